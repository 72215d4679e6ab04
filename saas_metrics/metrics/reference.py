"""Render the metric reference (docs/metrics.md) from the catalog.

``python -m saas_metrics.metrics.reference`` rewrites docs/metrics.md from
``saas_metrics.metrics.catalog.ALL_METRICS``; a test fails when the file and the catalog drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from saas_metrics.metrics.catalog import ALL_METRICS
from saas_metrics.metrics.kpi import DEFINITIONS_DOC, MetricDef

DOCS_FILE = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

HEADER = """# Metric reference

Generated from the metric catalog (`saas_metrics/metrics/catalog.py` and the
`saas_metrics/metrics/*_catalog.py` modules) by `python -m saas_metrics.metrics.reference`.
Do not edit by hand: a test compares this file with the catalog.

Conventions ([metric-definitions.md](metric-definitions.md#conventions)): months are calendar months in UTC; amounts are in the
reporting currency (default USD) at the rate in force on the month's last day; rates are
fractions (0.05 = 5 %) and NULL where the denominator is 0 or inputs are missing. Every
metric is a row of `kpi_monthly(month, metric, segment, segment_value, value, unit,
is_provisional)`; segment `all` is the headline.

Where these metrics are heading: the forecast of mrr, arr, customers, nrr and the MRR bridge
(table `kpi_forecast`), its assumptions, backtests and limits are described in
[forecast.md](forecast.md).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _source_cell(source: str) -> str:
    """A catalogue ``source`` as markdown: a section of the definitions page becomes a link that
    works from docs/ (where metrics.md lives), the rest is kept as text."""
    prefix = f"{DEFINITIONS_DOC}#"
    if not source.startswith(prefix):
        return _cell(source)
    anchor, _, note = source[len(prefix):].partition(" ")
    page = Path(DEFINITIONS_DOC).name
    return _cell(f"[{page}#{anchor}]({page}#{anchor}) {note}")


def render_metric_reference(defs: list[MetricDef]) -> str:
    """Markdown: an index table per domain, then one section per metric (catalog order)."""
    names = [d.name for d in defs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"metric(s) defined more than once in the catalog: {duplicates}")
    domains: dict[str, list[MetricDef]] = {}
    for d in defs:
        domains.setdefault(d.domain, []).append(d)

    lines = [HEADER.rstrip(), ""]
    lines += ["## Contents", ""]
    lines += [f"- [{domain}](#domain-{domain}) ({len(items)} metrics)" for domain, items in domains.items()]
    lines.append("")
    for domain, items in domains.items():
        lines += [f"## Domain: {domain}", "", "| metric | unit | formula |", "| --- | --- | --- |"]
        lines += [f"| `{d.name}` | {d.unit} | {_cell(d.formula)} |" for d in items]
        lines.append("")
        for d in items:
            lines += [f"### {d.name}", "", f"- **Formula**: {_cell(d.formula)}", f"- **Unit**: {d.unit}",
                      f"- **Inputs**: {_cell(d.inputs)}", f"- **Source**: {_source_cell(d.source)}"]
            if d.policies:
                lines.append("- **Policies**: " + ", ".join(f"`{p}`" for p in d.policies))
            lines.append("- **Segments**: " + ", ".join(d.segments))
            if d.notes:
                lines.append(f"- **Notes**: {_cell(d.notes)}")
            lines += [f"- **{_cell(k)}**: {_cell(v)}" for k, v in sorted(d.extra.items())]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/metrics.md (or the path given as the first argument)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DOCS_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_metric_reference(ALL_METRICS), encoding="utf-8")
    print(f"wrote {target} ({len(ALL_METRICS)} metrics)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
