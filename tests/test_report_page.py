"""report.html and `compare --html` on two real sweeps: self-contained files, and what headless Chromium shows."""

from __future__ import annotations

import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import open_page
from helpers.cli import run_cli
from PIL import Image

from rnn_sweep.record.columns import label, show

pytestmark = pytest.mark.slow


class PageParts(HTMLParser):
    """The parts of a page that could reach outside it, and its images and links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def attribute(self, tag: str, name: str) -> list[str]:
        return [attrs[name] for found, attrs in self.tags if found == tag and name in attrs]


def _parts(page: Path) -> PageParts:
    return PageParts(page.read_text(encoding="utf-8"))


def _assert_self_contained(parts: PageParts) -> None:
    assert "url(" not in parts.text and "@import" not in parts.text
    assert not [tag for tag, _ in parts.tags if tag in ("script", "link", "iframe", "object", "embed")]
    sources = parts.attribute("img", "src")
    assert all(source.startswith("data:image/png;base64,") for source in sources), [s[:40] for s in sources]
    assert not [href for href in parts.attribute("a", "href") if "://" in href or href.startswith("/")]


def test_every_sweep_folder_gets_a_self_contained_page(two_sweeps):
    for sweep in two_sweeps:
        parts = _parts(sweep / "report.html")
        _assert_self_contained(parts)
        assert len(parts.attribute("img", "src")) == len(list(sweep.glob("*.png"))) == 4
        assert sorted(parts.attribute("a", "href")) == ["./0/", "./1/"]  # one link per job, relative to the page
        text = (sweep / "report.html").read_text()
        assert "rnn-sweep -m" in text and "model=simple_rnn,gru" in text and f"seed={sweep.name[-1]}" in text
        assert "CPU" in text and "TensorFlow" in text and "simple_rnn" in text and "gru" in text


def test_report_html_rebuilds_the_page_of_a_copied_sweep_with_its_failures(seed_sweeps, tmp_path):
    """A copy elsewhere, one job marked interrupted and one job folder with no result: the page is rebuilt with
    the summary over the seeds that ended ok."""
    sweep = shutil.copytree(seed_sweeps[0], tmp_path / "copied")
    (sweep / "report.html").unlink()
    record = json.loads((sweep / "1" / "result.json").read_text())
    record.update(status="interrupted", error="interrupted (Ctrl-C / SIGINT) <before> the run finished")
    (sweep / "1" / "result.json").write_text(json.dumps(record))
    (sweep / "3" / ".hydra").mkdir(parents=True)

    result = run_cli("report", str(sweep), "--html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {sweep / 'report.html'}" in result.stdout and "test accuracy" not in result.stdout
    parts = _parts(sweep / "report.html")
    _assert_self_contained(parts)
    text = (sweep / "report.html").read_text()
    (summary,) = pd.read_csv(sweep / "summary.csv").to_dict("records")
    assert summary["n"] == 2 and summary["n_not_ok"] == 1  # seeds 0 and 2 ok, seed 1 interrupted
    for column in ("test_accuracy_mean", "test_accuracy_ci_low", "test_accuracy_ci_high"):
        # summary.csv, as the column table labels and formats it
        assert f">{show(column, summary[column])}</td>" in text and f">{label(column)}</th>" in text
    assert "&lt;before&gt;" in text and "<before>" not in text  # the error, escaped
    assert "status-interrupted" in text and "no result.json: still running, or killed" in text
    for href in parts.attribute("a", "href"):
        assert (sweep / href).is_dir(), href

    run_folder = run_cli("report", str(sweep / "0"), "--html", cwd=tmp_path)
    assert run_folder.returncode == 2 and "is a run folder" in run_folder.stderr


def _doctored_copy(sweep: Path, out: Path) -> Path:
    """The sweep's results with gru's accuracy 0.05 lower: a change the page must show."""
    frame = pd.read_csv(sweep / "results.csv")
    frame.loc[frame["cell"] == "gru", "test_accuracy"] -= 0.05
    frame.to_csv(out, index=False)
    return out


def test_compare_html_writes_the_comparison_page(two_sweeps, tmp_path):
    a = two_sweeps[0] / "results.csv"
    b = _doctored_copy(two_sweeps[0], tmp_path / "b.csv")
    result = run_cli("compare", str(a), str(b), "--html", str(tmp_path / "cmp.html"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    parts = _parts(tmp_path / "cmp.html")
    _assert_self_contained(parts)
    text = (tmp_path / "cmp.html").read_text()
    assert "rnn-sweep compare" in text and "-0.0500" in text and "+0.0000" in text and "gru" in text


def _not_blank(png: bytes) -> tuple[float, float]:
    """Pixel spread and the share of pixels that are not white: a blank page has neither."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(pixels.std()), float((pixels < 250).mean())


def test_report_page_in_headless_chromium(two_sweeps, browser, tmp_path):
    sweep = two_sweeps[1]
    visit = open_page(browser, sweep / "report.html")
    assert visit.errors == []
    assert [url for url in visit.requests if not url.startswith(("file:", "data:"))] == []
    facts = visit.facts
    assert facts["title"] == f"rnn-sweep sweep {sweep.name}"
    images = facts["images"]
    assert len(images) == 4 and all(image["complete"] and image["width"] > 300 for image in images)
    assert facts["tableRows"] >= 2 + 2 + 2  # accuracy, timing and the runs: a row per cell each
    assert "Test accuracy" in facts["text"] and "Every run" in facts["text"] and "simple_rnn" in facts["text"]
    spread, inked = _not_blank(visit.screenshot)
    assert spread > 20 and inked > 0.02, (spread, inked)
    (tmp_path / "report.png").write_bytes(visit.screenshot)


def test_comparison_page_in_headless_chromium(seed_sweeps, small_run, browser, tmp_path):
    """A real difference (32 units for 2 epochs against 4 units for 1): its `worse` verdict is shown in red."""
    page = tmp_path / "cmp.html"
    compared = run_cli("compare", str(seed_sweeps[0] / "0"), str(small_run), "--on", "cell", "--html", str(page),
                       cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    visit = open_page(browser, page)
    assert visit.errors == [] and [url for url in visit.requests if not url.startswith(("file:", "data:"))] == []
    assert visit.facts["tableRows"] == 1 and visit.facts["red"] == ["worse"]
    assert _not_blank(visit.screenshot)[0] > 10
