"""Every file rnn-sweep writes gets the mode any other tool would give it under the user's umask (0644 under 022,
0664 under 002), so a colleague on a shared file system can read (or, under 002, rewrite) what a run left."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import run_cli
from helpers.runs import TINY

WRITE_EVERY_KIND = """
import sys
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from rnn_sweep import atomic
from rnn_sweep.report import plots
out = Path(sys.argv[1])
atomic.write_text(out / "table.csv", "a,b\\n1,2\\n")
atomic.write_bytes(out / "arrays.npy", b"\\x93NUMPY")
atomic.write_json(out / "result.json", {"status": "ok"})
figure, _ = plt.subplots()
plots._save(figure, out / "plot.png")
"""


def _modes(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): stat.S_IMODE(path.stat().st_mode)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _under_umask(mask: int):
    return lambda: os.umask(mask)


@pytest.mark.slow
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_and_plots_follow_the_umask(tmp_path, mask, mode):
    result = subprocess.run([sys.executable, "-c", WRITE_EVERY_KIND, str(tmp_path)], preexec_fn=_under_umask(mask),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    modes = _modes(tmp_path)
    assert set(modes) == {"table.csv", "arrays.npy", "result.json", "plot.png"}
    assert {name: oct(value) for name, value in modes.items() if value != mode} == {}


@pytest.mark.slow
def test_every_file_of_a_sweep_gets_the_umask_mode(tmp_path, mnist_path):
    """A real sweep under umask 002 (a group-shared project folder): every file 0664; `report` under 022 then
    rewrites the sweep's tables and page as 0644."""
    sweep = tmp_path / "sweep"
    result = run_cli("-m", "model=simple_rnn,gru", *TINY, "train.save_model=true", "train.tensorboard=true",
                     f"hydra.sweep.dir={sweep}", cwd=tmp_path, data=mnist_path, umask=0o002)
    assert result.returncode == 0, result.stderr[-3000:]
    modes = _modes(sweep)
    for name in ("results.csv", "summary.csv", "accuracy.csv", "report.html", "0/result.json", "0/history.csv",
                 "0/test_predictions.npy", "0/test_labels.npy", "0/model.keras", "0/.hydra/config.yaml"):
        assert name in modes, sorted(modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode != 0o664} == {}

    report = run_cli("report", str(sweep), cwd=tmp_path, umask=0o022)
    assert report.returncode == 0, report.stderr[-3000:]
    rewritten = _modes(sweep)
    for name in ("results.csv", "summary.csv", "accuracy.csv", "timing.csv", "report.html"):
        assert rewritten[name] == 0o644, (name, oct(rewritten[name]))
