"""Every reference to a section of the docs resolves: to a file in docs/ and a heading in it.

Code and docs cite sections as ``docs/<page>.md#<anchor>`` (docstrings, catalogue sources,
comments) or as markdown links (``[text](page.md#anchor)``, ``[text](#anchor)``); an anchor
is the heading's GitHub slug, so renaming a heading without its references fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: ``docs/<page>.md#<anchor>``, optionally followed by more anchors of the same page
#: ("docs/metric-definitions.md#segments and #revenue-churn-by-tier").
_DOC_REFERENCE = re.compile(r"(?<![\w/.-])(docs/[\w./-]+\.md)#([\w-]+)((?:(?:,\s*|\s+and\s+)#[\w-]+)*)")
_MORE_ANCHORS = re.compile(r"#([\w-]+)")
#: A markdown link to a local page and section, or to a section of the same page.
_MARKDOWN_LINK = re.compile(r"\]\(((?!https?:)[^)#\s]*)#([^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (word characters,
    hyphens and spaces stay), each space a hyphen."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a markdown page's headings (outside code fences); a repeated heading
    gets ``-1``, ``-2``, ... as on GitHub."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        heading = re.match(r"^#{1,6}\s+(.+?)\s*#*\s*$", line)
        if in_fence or not heading:
            continue
        anchor = github_anchor(heading.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def _files() -> Iterator[Path]:
    for folder in ("saas_metrics", "saas_metrics_tests", "docs", "deploy", "scripts"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in {".py", ".md", ".yaml", ".yml", ".toml", ".sh"} and path.is_file():
                yield path
    yield ROOT / "README.md"
    yield ROOT / "pyproject.toml"


def references() -> list[tuple[str, Path, str]]:
    """(where, target page, anchor) for every section reference in the package, tests and docs."""
    found: list[tuple[str, Path, str]] = []
    for path in _files():
        where = str(path.relative_to(ROOT))
        text = path.read_text(encoding="utf-8")
        for match in _DOC_REFERENCE.finditer(text):
            page = ROOT / match.group(1)
            found += [(where, page, a) for a in [match.group(2), *_MORE_ANCHORS.findall(match.group(3))]]
        if path.suffix == ".md":
            for match in _MARKDOWN_LINK.finditer(text):
                target = (path.parent / match.group(1)).resolve() if match.group(1) else path
                if target.suffix == ".md":
                    found.append((where, target, match.group(2)))
    return found


def test_github_anchors_of_hand_picked_headings() -> None:
    assert github_anchor("S&M spend") == "sm-spend"
    assert github_anchor("Customer churn rate (Stripe)") == "customer-churn-rate-stripe"
    assert github_anchor("Engagement, health and support") == "engagement-health-and-support"
    assert github_anchor("`kpi_monthly` rows") == "kpi_monthly-rows"
    assert github_anchor("Lead-to-customer rate") == "lead-to-customer-rate"


def test_repeated_headings_are_numbered_and_fenced_lines_are_not_headings(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n## Notes\n```bash\n# not a heading\n```\n## Notes\n", encoding="utf-8")
    assert anchors(page) == {"title", "notes", "notes-1"}


def test_the_reference_patterns_find_chained_and_relative_references(tmp_path: Path) -> None:
    text = "see docs/metric-definitions.md#segments and #revenue-churn-by-tier, or [x](health.md#bands)"
    match = _DOC_REFERENCE.search(text)
    assert match is not None
    assert [match.group(2), *_MORE_ANCHORS.findall(match.group(3))] == ["segments", "revenue-churn-by-tier"]
    assert _MARKDOWN_LINK.findall(text) == [("health.md", "bands")]


def test_the_metric_definitions_page_is_cited_by_every_domain() -> None:
    cited = {anchor for _, page, anchor in references() if page.name == "metric-definitions.md"}
    # One section per family the catalogue draws on, so the page is what the code points at.
    assert {"mrr", "customer-mrr-movements", "bridge-identity", "nrr", "grr", "ltv", "cac",
            "trial-to-paid", "attribution", "customer-health-score", "nps"} <= cited


@pytest.mark.parametrize("folder", ["saas_metrics", "saas_metrics_tests", "docs"])
def test_no_reference_points_outside_the_repository(folder: str) -> None:
    outside = "METRICS" + "_SPEC"  # spelled in two parts so this file does not match itself
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*")
            if p.is_file() and p.suffix in {".py", ".md", ".yaml"} and outside in p.read_text(encoding="utf-8")]
    assert hits == []


def test_every_section_reference_resolves() -> None:
    found = references()
    assert len(found) > 100  # the catalogue alone cites the definitions ~90 times via docs/metrics.md
    cache: dict[Path, set[str]] = {}
    broken = []
    for where, page, anchor in found:
        if not page.is_file():
            broken.append(f"{where}: {page.relative_to(ROOT)} does not exist")
            continue
        if anchor not in cache.setdefault(page, anchors(page)):
            broken.append(f"{where}: no heading #{anchor} in {page.relative_to(ROOT)}")
    assert broken == []
