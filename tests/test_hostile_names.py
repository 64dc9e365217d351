"""Folder names that read like code (a `javascript:` URL, a tag) are only text and folder links on the pages:
clicked in headless Chromium, no script runs and no link leaves the sweep folder."""

from __future__ import annotations

import pytest
from browser import click_every_link
from helpers.cli import run_cli

from rnn_sweep.record.columns import COLUMNS
from rnn_sweep.record.result_files import write_result

HOSTILE_NAMES = ['javascript:alert(9)<!--', '"><img src=x onerror=alert(8)>', "<script>alert(7)<\\script>",
                 "%2e%2e", "' onmouseover='alert(5)", "plain"]


@pytest.mark.slow
def test_script_like_folder_names_never_run_nor_lead_out_of_the_sweep(tmp_path, browser):
    sweep = tmp_path / "sweep"
    for units, name in enumerate(HOSTILE_NAMES, start=4):
        write_result(sweep / name, {**dict.fromkeys(COLUMNS), "run_dir": str(sweep / name), "status": "ok",
                                    "cell": "gru", "units": units, "seed": 0, "test_accuracy": 0.5})
    (sweep / "javascript:alert(4)" / ".hydra").mkdir(parents=True)  # a job without a result: listed as missing
    written = run_cli("report", str(sweep), "--html", cwd=tmp_path)
    assert written.returncode == 0, written.stderr

    clicks = click_every_link(browser, sweep / "report.html")
    assert len(clicks) == len(HOSTILE_NAMES) + 1, clicks
    assert [click for click in clicks if click.dialog is not None] == []
    listed = "\n".join(map(str, clicks))
    assert all(click.href.startswith("./") for click in clicks), listed
    inside = sweep.resolve().as_uri() + "/"
    assert all(click.landed is not None and click.landed.startswith(inside) for click in clicks), listed
    assert (sweep / "report.html").read_text().count("javascript:alert(9)&lt;!--") >= 1  # shown as text
