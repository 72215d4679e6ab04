"""The configuration example of docs/sources.md ('Downloaded CSV exports') loaded as written and run on the
fixture downloads: the whole pipeline finishes and MRR, movements, cash and ad spend equal hand-computed values."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
import yaml

from saas_metrics.metrics.kpi import KPI_MONTHLY
from saas_metrics.metrics.movements import MRR_MOVEMENTS
from saas_metrics_tests.integration.helpers import read_sorted, run_months
from saas_metrics_tests.sources.test_src_exports import DOWNLOADS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
SECTION = "## Downloaded CSV exports (no API key)"


def config_examples() -> list[str]:
    """Every YAML block of the downloads section of docs/sources.md."""
    text = DOCS.read_text()
    section = text[text.index(SECTION):]
    section = section[: section.index("\n## ", len(SECTION))]
    return re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_one_config_example_and_names_every_format() -> None:
    from saas_metrics.sources.export_formats import FORMATS

    assert len(config_examples()) == 1
    text = DOCS.read_text()
    for fmt in FORMATS:
        for column in fmt.identifying_columns():
            assert f"`{column}`" in text, (fmt.key, column)


@pytest.fixture(scope="module")
def docs_example_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    [example] = config_examples()
    work = tmp_path_factory.mktemp("exports_run")
    shutil.copytree(DOWNLOADS, work / "downloads")
    config = yaml.safe_load(example)
    (work / "saas_metrics.yaml").write_text(example)
    url = f"sqlite:///{work / 'warehouse.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)  # the example's relative sources_dir is the folder beside the config file
        mp.setenv("SAAS_METRICS_CONFIG_FILE", str(work / "saas_metrics.yaml"))
        mp.setenv("SAAS_METRICS_WAREHOUSE_URL", url)
        mp.setenv("SAAS_METRICS_QUALITY__DATA_DOCS", "false")
        from saas_metrics.config import Settings

        settings = Settings()
        assert Path(settings.sources_dir) == Path(config["sources_dir"])
        assert (settings.first_month, settings.last_month) == (dt.date(2026, 1, 1), dt.date(2026, 6, 1))
        run_months(settings)
    return url


def test_mrr_from_the_downloads(docs_example_run: str) -> None:
    kpi = read_sorted(docs_example_run, KPI_MONTHLY, ["month", "metric"])
    head = kpi[kpi["segment"] == "all"].pivot(index="month", columns="metric", values="value")
    # cus_A 5 x 49 USD; cus_B 2 x 490 EUR / 12 x 1.10 = 89.8333 from its trial end (Feb 24) to its
    # cancellation (May 20); cus_C 3000 JPY x 0.0065 = 19.50 from March (past_due since June 8, within
    # the 30 delinquency days at the end of June); cus_A's second subscription 3 x 49 = 147 from April 2.
    assert head["mrr"].round(4).tolist() == [245.0, 334.8333, 354.3333, 501.3333, 411.5, 411.5]
    assert head["customers"].tolist() == [1, 2, 3, 3, 2, 2]
    assert head["churned_mrr"].round(4).tolist() == [0, 0, 0, 0, 89.8333, 0]
    # payments: 245 (Jan), 1166.20 EUR x 1.10 = 1282.82 (Feb), the 100 EUR refund (Mar), 1745 (Jun)
    assert head["cash_collected"].round(2).tolist() == [245.0, 1282.82, -110.0, 0.0, 0.0, 1745.0]
    # June: Google 1231 USD + Meta 18.53 EUR x 1.10 + LinkedIn 12.47 GBP x 1.25
    assert head.loc[head.index[-1], "ad_spend"] == pytest.approx(1231 + 18.53 * 1.10 + 12.47 * 1.25)


def test_movements_from_the_downloads(docs_example_run: str) -> None:
    mv = read_sorted(docs_example_run, MRR_MOVEMENTS, ["month", "customer_id"])
    moved = mv[mv["movement"] != "unchanged"]
    got = [(m.strftime("%Y-%m"), c, kind, round(a, 4)) for m, c, kind, a in
           moved[["month", "customer_id", "movement", "amount"]].itertuples(index=False)]
    assert got == [("2026-01", "cus_A", "new", 245.0), ("2026-02", "cus_B", "new", 89.8333), ("2026-03", "cus_C", "new", 19.5),
                   ("2026-04", "cus_A", "expansion", 147.0), ("2026-05", "cus_B", "churn", 89.8333)]
