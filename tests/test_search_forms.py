"""Each of Hydra's sweep forms gives the Optuna distribution hydra-optuna-sweeper gives, as the study records it."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from rnn_sweep.errors import ConfigError
from rnn_sweep.search.objectives import check_objectives
from rnn_sweep.search.samplers import make_sampler
from rnn_sweep.search.space import parse_space

optuna = pytest.importorskip("optuna")
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402

from rnn_sweep.search.study import distributions  # noqa: E402
from rnn_sweep.search.study_storage import open_storage  # noqa: E402


@pytest.mark.parametrize(("form", "expected"), [
    ("int(interval(8,32))", IntDistribution(8, 32)),
    ("tag(log, int(interval(1,100)))", IntDistribution(1, 100, log=True)),
    ("interval(1,5)", FloatDistribution(1.0, 5.0)),
    ("tag(log, interval(0.001,0.1))", FloatDistribution(0.001, 0.1, log=True)),
    ("shuffle(range(1,4))", CategoricalDistribution((1, 2, 3))),
    ("range(-5.5,5.5,step=0.5)", FloatDistribution(-5.5, 5.0, step=0.5)),
    ("range(1,7,2)", IntDistribution(1, 5, step=2)),
    ("choice(1,'x',true,2.5)", CategoricalDistribution((1, "x", True, 2.5))),
    ("shuffle(a,b,c)", CategoricalDistribution(("a", "b", "c"))),
])
def test_each_form_is_recorded_in_the_study_as_its_distribution(tmp_path, form, expected):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="forms", storage=storage)
    trial = study.ask(distributions(parse_space([f"key={form}"])))
    study.tell(trial, 0.5)
    recorded = optuna.load_study(study_name="forms", storage=storage).trials[0]
    assert recorded.distributions["key"] == expected
    assert type(recorded.params["key"]) is type(expected.to_external_repr(expected.to_internal_repr(
        recorded.params["key"])))


def _sweeper(*overrides: str):
    from rnn_sweep.config.paths import conf_dir
    from rnn_sweep.config.schema import register

    register()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        return compose("config", ["+hparams_search=val_accuracy", *overrides], return_hydra_config=True).hydra.sweeper


@pytest.mark.parametrize(("group", "cls"), [("tpe", "TPESampler"), ("random", "RandomSampler"),
                                            ("nsgaii", "NSGAIISampler"), ("qmc", "QMCSampler")])
def test_the_sampler_groups_make_their_sampler_seeded_past_the_trials_so_far(group, cls):
    sweeper = _sweeper(f"hydra/sweeper/sampler={group}")
    sampler = make_sampler(sweeper.sampler, parse_space(["a=choice(1,2)"]).params, 3)
    assert type(sampler).__name__ == cls and sweeper.sampler.seed == 42


def test_an_unknown_sampler_argument_or_objective_is_a_config_error():
    with pytest.raises(ConfigError, match="n_startup_trialz is not an argument of TPESampler"):
        make_sampler(_sweeper("+hydra.sweeper.sampler.n_startup_trialz=3").sampler, [], 0)
    with pytest.raises(ConfigError, match="accuracy_of_test"):
        check_objectives(_sweeper("hydra.sweeper.direction=[maximize,minimize]",
                                  "hydra.sweeper.objectives=[accuracy_of_test,epoch_seconds]"))


@pytest.mark.slow
def test_integer_units_searched_for_accuracy_and_epoch_time_give_a_pareto_front(tmp_path, mnist_path):
    import yaml
    from helpers.cli import run_cli

    sweep_dir = tmp_path / "search"
    result = run_cli("-m", "+hparams_search=val_accuracy", "model.units=int(interval(8,32))", "model=simple_rnn",
                     "train.batch_size=64", "optimizer.learning_rate=0.01", "data.limit_train=300",
                     "data.limit_test=200", "train.epochs=1", "train.save_model=false", "hydra.sweeper.n_trials=2",
                     "hydra.sweeper.direction=[maximize,minimize]",
                     "hydra.sweeper.objectives=[test_accuracy,epoch_seconds]", f"hydra.sweep.dir={sweep_dir}",
                     cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Pruning is off" in result.stdout and "Pareto front" in result.stdout
    study = optuna.load_study(study_name="rnn_val_accuracy", storage=open_storage(None, sweep_dir))
    assert study.metric_names == ["test_accuracy", "epoch_seconds"]
    assert all(trial.distributions["model.units"] == IntDistribution(8, 32) for trial in study.trials)
    assert all(isinstance(trial.params["model.units"], int) for trial in study.trials)
    solutions = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())["solutions"]
    assert solutions and all(len(solution["values"]) == 2 for solution in solutions)
    assert (sweep_dir / "optuna_pareto_front.png").read_bytes().startswith(b"\x89PNG")
    assert "Pareto front" in (sweep_dir / "report.html").read_text()


@pytest.mark.slow
def test_a_lightning_hydra_template_shaped_search_runs(tmp_path, mnist_path):
    from helpers.cli import run_cli

    sweep_dir = tmp_path / "search"
    result = run_cli("-m", "+hparams_search=lightning_template", "hydra.sweeper.n_trials=2", "data.limit_train=300",
                     "data.limit_test=200", "train.epochs=1", "train.save_model=false", f"hydra.sweep.dir={sweep_dir}",
                     cwd=tmp_path, data=mnist_path)
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="rnn_sweep", storage=open_storage(None, sweep_dir))
    assert len(study.trials) == 2 and study.user_attrs["sampler"]["seed"] == 1234
    assert study.trials[0].distributions["train.batch_size"] == IntDistribution(32, 64, log=True)
    assert "best_value" in (sweep_dir / "optimization_results.yaml").read_text()
