"""README stays a five-minute read, and no link in it or in docs/ leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_LIMIT_BYTES = 15_000
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]

# Pages that README and docs/ already link to but that are still being written. Remove each entry when its
# page lands: the last test fails while a page listed here exists, so the list cannot go stale.
NOT_WRITTEN_YET = {"docs/statistics.md"}

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(page: Path) -> str:
    """The page without its fenced code blocks, where brackets are output, not links."""
    return _FENCE.sub("", page.read_text(encoding="utf-8"))


def _anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+\s+(.+)$", _prose(page), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def _relative_links(page: Path) -> list[tuple[str, str]]:
    """(path, anchor) of every link that is not a web address; the path is empty for a link within the page."""
    links = []
    for target in _LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        links.append((path, anchor))
    return links


def _name(target: Path) -> str:
    return target.relative_to(ROOT).as_posix() if target.is_relative_to(ROOT) else str(target)


def test_readme_is_under_15_kb():
    size = (ROOT / "README.md").stat().st_size
    assert size < README_LIMIT_BYTES, f"README.md is {size} bytes; move reference detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page):
    broken = []
    for path, anchor in _relative_links(page):
        target = (page.parent / path).resolve() if path else page
        name = _name(target)
        if name in NOT_WRITTEN_YET:
            continue
        if not target.exists():
            broken.append(f"{path}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{path}#{anchor}: no such heading in {name}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_the_pages_not_written_yet_are_linked_and_still_missing():
    linked = {_name((page.parent / path).resolve()) for page in PAGES for path, _ in _relative_links(page) if path}
    assert not NOT_WRITTEN_YET - linked, "README and docs/ no longer link to these pages: drop them from the list"
    written = sorted(name for name in NOT_WRITTEN_YET if (ROOT / name).exists())
    assert not written, f"{written} exist now: remove them from NOT_WRITTEN_YET so their links are checked"
