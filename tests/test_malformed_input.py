"""Every malformed command line ends in exit 2 and one paragraph naming the value and what is allowed, before
TensorFlow loads; a fix an error message suggests is itself accepted."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from helpers.cli import run_cli, run_probe
from helpers.fuzz import examples
from hydra import initialize_config_dir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnn_sweep.cli import run
from rnn_sweep.commands import SUBCOMMANDS
from rnn_sweep.config.cells import cell_entries, resolve
from rnn_sweep.config.paths import conf_dir
from rnn_sweep.config.schema import OPTIMIZER_SCHEMAS, Config, DataConfig, TrainConfig, register
from rnn_sweep.config.validate import validate
from rnn_sweep.errors import ConfigError
from rnn_sweep.launch.preflight import _JobComposer
from rnn_sweep.record.columns import COLUMNS
from rnn_sweep.record.result_files import write_result


def _refused(args: list[str], cwd: Path) -> str:
    """Run the CLI; it must exit 2 with one `error:` paragraph and no TensorFlow, and write no output folder."""
    result = run_probe(*args, cwd=cwd)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "TENSORFLOW-NOT-IMPORTED" in result.stdout
    assert not (cwd / "outputs").exists()
    return result.stderr


# Names that would put a job's folder or files outside its sweep or run folder (absolute, or climbing out).
_ESCAPES = [("hydra.sweep.subdir", "hydra.sweep.subdir=../../x"),
            ("hydra.sweep.subdir", "hydra.sweep.subdir=${hydra.job.num}/../../y"),
            ("hydra.sweep.subdir", "hydra.sweep.subdir=/tmp/elsewhere"),
            ("hydra.output_subdir", "hydra.output_subdir=../config-here"),
            ("hydra.job.name", "hydra.job.name=../../evil"),
            ("hydra.job.name", "hydra.job.name=a/b"),
            ("hydra.job_logging.handlers.file.filename", "hydra.job_logging.handlers.file.filename=/tmp/a.log")]
# Were a refusal missed, the job would be tiny (the test still fails: it must not train at all).
_TINY = ["model.units=4", "train.epochs=1", "data.limit_train=300", "data.limit_test=200"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["+model.foo=1"], ["Unknown config key 'model.foo'", "units"]),
        (["-m", "seed=${hydra.job.num}", "model=gru,lstm"], ["seed=${hydra.job.num}: ", "'hydra.job.num' not found",
                                                             "`hydra.*`", "seeds=N"]),
        (["model.units=${nowhere.x}"], ["model.units=${nowhere.x}: ", "'nowhere.x' not found", "${oc.env:NAME}"]),
        (["+train.bogus=3"], ["Unknown config key 'train.bogus'", "batch_size"]),
        (["+foo=1"], ["Unknown config key 'foo'", "model, optimizer"]),
        (["optimizer.learning_rate=nan"], ["optimizer.learning_rate=nan", "a finite number > 0"]),
        (["optimizer.learning_rate=inf"], ["optimizer.learning_rate=inf", "a finite number > 0"]),
        (["train.max_loss=-inf"], ["train.max_loss=-inf", "a finite number > 0"]),
        (["seed=4294967296"], ["seed=4294967296", "<= 4294967295"]),
        (["data.permutation_seed=-1"], ["data.permutation_seed=-1", ">= 0 and <= 4294967295"]),
        (["model.units"], ["'model.units'", "has no `=`", "key=value"]),
        (["=64"], ["'=64'", "nothing before `=`"]),
        (["model.units=[1,"], ["'model.units=[1,'", "key=value"]),
        (["comapre", "a", "b"], ["Unknown command 'comapre'", "rnn-sweep compare", "compare, report, reproduce"]),
        (["reprot", "x"], ["Unknown command 'reprot'", "rnn-sweep report"]),
        (["-m", "model.units=8,16", "train.epochs"], ["'train.epochs'", "has no `=`"]),
        (["hydra.run.dir=/proc/version/run"], ["/proc/version", "hydra.run.dir"]),
        (["--config-path", "/no/such/run/.hydra", "--config-name", "config"], ["No config file /no/such/run"]),
        *[(["-m", escape, *_TINY], [key, "outside"]) for key, escape in _ESCAPES],
        (["--shell-completion", *_TINY], ["--shell-completion / -sc", "rnn-sweep --help"]),
        (["-sc", "query=bash", *_TINY], ["--shell-completion / -sc"]),
        (["--resolve", *_TINY], ["--resolve only changes what --cfg or --help print"]),
        (["-m", "--cfg", "job", *_TINY], ["-m/--multirun and --cfg cannot be given together"]),
        (["--config-dir", "/no/such/dir", *_TINY], ["--config-dir /no/such/dir does not exist"]),
        (["-m", "model.units=interval(8,16)", *_TINY], ["model.units=interval(8,16): a grid sweep", "hparams_search"]),
        (["model.units=interval(8,16)", *_TINY], ["model.units=interval(8,16)", "--multirun"]),
    ],
)
def test_malformed_input_exits_2_with_one_paragraph_before_tensorflow(tmp_path, args, expected):
    error = _refused(args, tmp_path)
    for fragment in expected:
        assert fragment in error, error


def test_a_config_dir_holding_broken_yaml_is_named(tmp_path):
    broken = tmp_path / "mine" / "model" / "broken.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text("cell: lstm\nunits: [8\n")
    error = _refused(["--config-dir", str(tmp_path / "mine"), "model=broken", *_TINY], tmp_path)
    assert f"Cannot read a config file: while parsing a flow sequence in \"{broken}\"" in error, error


def _finished_run(folder: Path, config_text: str) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(config_text)
    write_result(folder, {**dict.fromkeys(COLUMNS), "run_dir": str(folder), "status": "ok", "test_accuracy": 0.9})
    return folder


@pytest.mark.parametrize("damage", ["model: {cell: lstm\n  units: [8\n", "\x00\x01\x02binary", "- a\n- list\n"])
def test_a_damaged_saved_config_is_named_by_reproduce_and_by_config_path(tmp_path, damage):
    run_dir = _finished_run(tmp_path / "run", damage)
    saved = run_dir / ".hydra" / "config.yaml"
    for args in (["reproduce", str(run_dir)], ["--config-path", str(saved.parent), "--config-name", "config"]):
        error = _refused(args, tmp_path)
        assert str(saved) in error and "damaged" in error, error


def test_compare_csv_into_a_folder_that_cannot_exist_is_one_paragraph(tmp_path):
    run_dir = tmp_path / "sweep" / "0"
    write_result(run_dir, {**dict.fromkeys(COLUMNS), "run_dir": str(run_dir), "status": "ok", "cell": "gru",
                           "units": 8, "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "epochs": 1,
                           "seed": 1, "test_accuracy": 0.5})
    result = run_cli("compare", str(run_dir), str(run_dir), "--csv", "/proc/version/out.csv", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("error: Cannot write --csv /proc/version/out.csv"), result.stderr


def _ruled_fields(schema: type, prefix: str) -> list[tuple[str, object]]:
    """(dotted key, rule) of every field of `schema` that has a rule."""
    return [(f"{prefix}{field.name}", field.metadata["rule"]) for field in dataclasses.fields(schema)
            if "rule" in field.metadata]


def _bad_value(rule) -> str:
    if rule.choices is not None:
        return "no_such_choice"
    if rule.kind is bool:
        return "7"
    for bound in (rule.ge, rule.gt):
        if bound is not None:
            return str(int(bound) - 1 if rule.kind is int or float(bound).is_integer() else bound - 1)
    return "inf"


_SCHEMAS = [("", Config), ("data.", DataConfig), ("train.", TrainConfig)]
_GROUPS = [(f"model={cell.name}", "model.", resolve(cell.schema)) for cell in cell_entries()]
_GROUPS += [(f"optimizer={name}", "optimizer.", schema) for name, schema in OPTIMIZER_SCHEMAS.items()]


def _every_bad_value() -> list[list[str]]:
    lines = [[f"{key}={_bad_value(rule)}"] for prefix, schema in _SCHEMAS for key, rule in _ruled_fields(schema, prefix)
             if not key.startswith(("model.", "optimizer."))]
    lines += [[group, f"{key}={_bad_value(rule)}"] for group, prefix, schema in _GROUPS
              for key, rule in _ruled_fields(schema, prefix) if not key.endswith((".cell", ".name"))]
    lines += [["seed=nan"], ["optimizer.learning_rate=-inf"], ["train.steps=30", "train.steps_per_execution=4"],
              ["model=transformer"], ["optimizer=adagrad"], ["model.cell=transformer"]]
    return lines


@pytest.mark.slow
def test_every_fix_an_error_suggests_is_accepted():
    """For every rule in the schema a value that breaks it, and the fix its error suggests, tried for real: each
    line composed the way preflight composes a sweep's jobs (Hydra once per group choice) and validated."""
    register()
    tried = 0
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        compose_job = _JobComposer("config", groups={"model", "optimizer", "data", "train", "experiment"})
        for line in _every_bad_value():
            with pytest.raises(ConfigError) as refused:
                validate(compose_job(line))
            suggestions = re.findall(r"`([\w.]+=[^`\s]+)`", str(refused.value))
            for suggestion in suggestions:
                key = suggestion.split("=", 1)[0]  # replaces what set that key (`model=` replaces `model.cell=`)
                kept = [o for o in line if not f"{o.split('=', 1)[0]}.".startswith(f"{key}.")]
                validate(compose_job([*kept, suggestion]))
                tried += 1
    assert tried >= 40


# --- property-based: generated malformed command lines ------------------------------------------------------------

_FLOAT_KEYS = ["optimizer.learning_rate", "model.dropout", "train.validation_split", "train.max_loss",
               "train.warmup_epochs", "train.label_smoothing", "optimizer.clipnorm"]
_WORD = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)
_MALFORMED = st.one_of(
    _WORD.filter(lambda word: word not in SUBCOMMANDS),  # no `=`
    st.from_regex(r"[a-z]{1,6}\.[a-z_]{1,8}", fullmatch=True),  # a key without its value
    st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=8).map(lambda v: f"={v}"),
    st.tuples(st.sampled_from(["model", "train", "optimizer", "data", ""]), _WORD).map(
        lambda pair: f"+{pair[0]}.zz_{pair[1]}=1" if pair[0] else f"+zz_{pair[1]}=1"),
    st.tuples(st.sampled_from(_FLOAT_KEYS), st.sampled_from(["nan", "inf", "-inf", "NaN", "+inf", "-nan"])).map(
        "=".join),
    st.tuples(st.sampled_from(["seed", "data.permutation_seed"]),
              st.one_of(st.integers(2**32, 2**80), st.integers(-(2**40), -1))).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.sampled_from(["model.units=[1,", "key==", "model.units='abc", "train.epochs=(", "model.units=${oops",
                     "hydra.run.dir=/proc/version/x", "hydra.sweep.dir=/proc/version/x"]),
)
# Hydra's own flags used wrongly, and grid syntax a grid sweep cannot expand (each a list of tokens, put first).
_HYDRA_FLAGS = st.sampled_from([["--shell-completion"], ["-sc", "query=bash"], ["-sc", "install=bash"], ["--resolve"],
                                ["-m", "--cfg", "job"], ["-m", "--info", "config"], ["--cfg", "job", "--info"],
                                ["--config-dir", "/no/such/dir"], ["--config-dir", "/proc/version"],
                                ["-m", "model.units=interval(8,16)"], ["optimizer.learning_rate=interval(0.1,1)"],
                                ["model.units=range(8,16)"], ["model.units=4,8"]])
_TYPO = st.tuples(st.sampled_from(SUBCOMMANDS), st.integers(0, 20)).map(
    lambda pair: pair[0][: pair[1] % len(pair[0])] + pair[0][pair[1] % len(pair[0]) + 1:] + "x"[: pair[1] % 2])
_VALID = st.sampled_from(["model.units=8", "model=gru", "train.epochs=1", "optimizer=sgd", "seed=3",
                          "data.limit_train=512", "model.units=4,8"])


@st.composite
def malformed_command_lines(draw) -> list[str]:
    """A few valid overrides with at least one malformed token among them (a mistyped subcommand goes first)."""
    tokens = draw(st.lists(_VALID, max_size=3))
    for token in draw(st.lists(_MALFORMED, min_size=1, max_size=2)):
        tokens.insert(draw(st.integers(0, len(tokens))), token)
    if draw(st.booleans()):
        tokens.insert(0, "-m")
    elif draw(st.booleans()):
        tokens.insert(0, draw(_TYPO))
    return tokens


@st.composite
def hydra_flag_misuses(draw) -> list[str]:
    """A misused Hydra flag or grid syntax, then a few valid overrides (with no `-m` of their own)."""
    return [*draw(_HYDRA_FLAGS), *draw(st.lists(_VALID.filter(lambda token: "," not in token), max_size=3))]


@settings(max_examples=examples(40), deadline=timedelta(seconds=30),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(argv=st.one_of(malformed_command_lines(), hydra_flag_misuses()))
def test_any_malformed_command_line_exits_2_with_one_paragraph(argv, tmp_path_factory, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("RNN_SWEEP_DATA", str(tmp_path_factory.mktemp("empty")))  # and nothing trains, whatever
    code = run(list(argv))
    stderr = capsys.readouterr().err
    assert code == 2, (argv, stderr)
    assert stderr.startswith("error:") and len(stderr.strip().splitlines()) == 1, (argv, stderr)
    assert "Traceback" not in stderr
    assert not (tmp_path_factory.getbasetemp() / "outputs").exists(), (argv, "left an output folder behind")


_DAMAGED_ACCURACY = st.sampled_from(["inf", "-inf", "-0.5", "1.7", "1e9", "high", "0.5%", "[0.5]", "true"])


@settings(max_examples=12, deadline=timedelta(seconds=30),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(value=_DAMAGED_ACCURACY, row=st.integers(0, 1), side=st.sampled_from(["a", "b"]))
def test_a_damaged_accuracy_in_a_compared_csv_is_a_named_error(value, row, side, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("damaged")
    good = folder / "good.csv"
    records = [{**dict.fromkeys(COLUMNS), "run_dir": str(job), "status": "ok", "cell": "gru", "units": 8 * (job + 1),
                "batch_size": 64, "optimizer": "adam", "learning_rate": 0.001, "epochs": 1, "seed": 1,
                "test_accuracy": 0.5} for job in range(2)]
    pd.DataFrame(records).to_csv(good, index=False)
    table = pd.read_csv(good).astype({"test_accuracy": object})
    table.loc[row, "test_accuracy"] = value
    damaged = folder / "damaged.csv"
    table.to_csv(damaged, index=False)
    code = run(["compare", *((str(damaged), str(good)) if side == "a" else (str(good), str(damaged)))])
    stderr = capsys.readouterr().err
    assert code == 2, (value, stderr)
    assert stderr.startswith(f"error: {damaged} has test_accuracy={value!r} (row of run_dir {row})"), stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
