"""The DuckDB floor: customer MRR totals and MRR movements computed by plain SQL on the
pipeline's exported ``customer_mrr`` and ``customer_first_paid`` tables, timed, and checked
against what the pipeline wrote (the movement rules of docs/metrics.md).

The SQL mirrors metrics/movements.py: m0 = MRR at the end of M-1, m0' = M-1's local amount
at M's rate (+ any other-currency MRR at M-1's rate), m1 = MRR at the end of M; new /
reactivation when m0 = 0 < m1 (reactivation if first paid before M), churn when m0 > 0 = m1,
unchanged when the local amount and currency did not change, else expansion / contraction by
comparing m1 with m0'. The first month is left out: its M-1 snapshot is not a stored partition.
M's rate of a currency is the latest ``rate_to_usd`` dated on or before M's last day (ASOF join on
the staged FX table), crossed through USD into the reporting currency, as metrics/fx.py does.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

AMOUNT_TOLERANCE = 1e-6

MOVEMENTS_SQL = """
WITH cm AS (
    SELECT CAST(month AS DATE) AS month, CAST(customer_id AS VARCHAR) AS customer_id, currency,
           mrr_local, fx_rate, mrr
    FROM read_csv('{customer_mrr}', header = true, types = {{'customer_id': 'VARCHAR'}})
    WHERE mrr > 0
),
first_month AS (SELECT min(month) AS m FROM cm),
fx AS (
    SELECT CAST(date AS DATE) AS date, upper(currency) AS currency, rate_to_usd
    FROM read_csv('{fx_rates}', header = true, types = {{'currency': 'VARCHAR', 'rate_to_usd': 'DOUBLE'}})
    WHERE rate_to_usd IS NOT NULL
    UNION ALL SELECT DATE '1900-01-01', 'USD', 1.0
),
needed AS (SELECT DISTINCT CAST(month + INTERVAL 1 MONTH AS DATE) AS month, currency FROM cm),
asof_cur AS (
    SELECT n.month, n.currency, f.rate_to_usd FROM needed AS n
    ASOF LEFT JOIN fx AS f ON n.currency = f.currency AND f.date <= last_day(n.month)
),
asof_rep AS (
    SELECT n.month, f.rate_to_usd FROM (SELECT DISTINCT month FROM needed) AS n
    ASOF LEFT JOIN (SELECT * FROM fx WHERE currency = '{reporting}') AS f ON f.date <= last_day(n.month)
),
rates AS (
    SELECT c.month, c.currency,
           CASE WHEN c.currency = '{reporting}' THEN 1.0 ELSE c.rate_to_usd / r.rate_to_usd END AS rate
    FROM asof_cur AS c JOIN asof_rep AS r ON r.month = c.month
),
fp AS (
    SELECT CAST(customer_id AS VARCHAR) AS customer_id, CAST(first_paid_month AS DATE) AS first_paid_month
    FROM read_csv('{first_paid}', header = true, types = {{'customer_id': 'VARCHAR'}})
),
prev AS (
    SELECT CAST(month + INTERVAL 1 MONTH AS DATE) AS month, customer_id, currency, mrr_local, fx_rate, mrr
    FROM cm WHERE month < (SELECT max(month) FROM cm)
),
joined AS (
    SELECT coalesce(c.month, p.month) AS month, coalesce(c.customer_id, p.customer_id) AS customer_id,
           c.currency AS currency_1, coalesce(c.mrr_local, 0) AS local1, coalesce(c.mrr, 0) AS m1,
           p.currency AS currency_0, coalesce(p.mrr_local, 0) AS local0, p.fx_rate AS rate0,
           coalesce(p.mrr, 0) AS m0, p.customer_id IS NOT NULL AS had_prev
    FROM cm AS c FULL OUTER JOIN prev AS p ON c.month = p.month AND c.customer_id = p.customer_id
),
valued AS (
    SELECT j.*, CASE
            WHEN NOT had_prev THEN 0
            WHEN abs(m0 - local0 * rate0) <= 1e-9 THEN local0 * r.rate
            ELSE local0 * r.rate + (m0 - local0 * rate0) END AS m0_fx,
           coalesce(fp.first_paid_month < j.month, false) AS paid_before
    FROM joined AS j
    LEFT JOIN rates AS r ON r.month = j.month AND r.currency = j.currency_0
    LEFT JOIN fp ON fp.customer_id = j.customer_id
    WHERE j.month > (SELECT m FROM first_month)
),
classified AS (
    SELECT month, customer_id, m0, m0_fx, m1, CASE
            WHEN m0 <= 0 AND m1 > 0 AND paid_before THEN 'reactivation'
            WHEN m0 <= 0 AND m1 > 0 THEN 'new'
            WHEN m0 > 0 AND m1 <= 0 THEN 'churn'
            WHEN had_prev AND currency_0 = currency_1 AND abs(local1 - local0) <= 1e-6
                 AND abs(m1 - m0_fx) <= 1e-6 THEN 'unchanged'
            WHEN m1 > m0_fx THEN 'expansion'
            WHEN m1 < m0_fx THEN 'contraction'
            ELSE 'unchanged' END AS movement
    FROM valued
)
SELECT month, customer_id, m0 AS mrr_start, m0_fx AS mrr_start_fx, m1 AS mrr_end, movement,
       CASE movement WHEN 'new' THEN m1 WHEN 'reactivation' THEN m1 WHEN 'churn' THEN m0_fx
                     WHEN 'expansion' THEN m1 - m0_fx WHEN 'contraction' THEN m0_fx - m1 ELSE 0 END AS amount
FROM classified ORDER BY month, customer_id
"""

MRR_SQL = """
SELECT CAST(month AS DATE) AS month, sum(mrr) AS mrr, count(*) AS customers
FROM read_csv('{customer_mrr}', header = true, types = {{'customer_id': 'VARCHAR'}})
WHERE mrr > 0 GROUP BY 1 ORDER BY 1
"""


@dataclass
class FloorResult:
    seconds: float
    movements: pd.DataFrame
    mrr: pd.DataFrame


@dataclass
class FloorCheck:
    rows_compared: int
    movement_mismatches: int
    mrr_months_compared: int
    mrr_mismatches: int

    @property
    def equal(self) -> bool:
        return self.rows_compared > 0 and self.movement_mismatches == 0 and self.mrr_mismatches == 0


def duckdb_floor(customer_mrr: pd.DataFrame, first_paid: pd.DataFrame, fx_rates: pd.DataFrame,
                 reporting_currency: str = "USD", workdir: Path | None = None) -> FloorResult:
    """Export the tables as CSV, then time DuckDB reading them and computing MRR and movements.
    ``fx_rates`` has columns date, currency, rate_to_usd (the staged FX table)."""
    import duckdb

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        mrr_csv, fp_csv = Path(tmp) / "customer_mrr.csv", Path(tmp) / "customer_first_paid.csv"
        fx_csv = Path(tmp) / "fx_rates.csv"
        fx_rates[["date", "currency", "rate_to_usd"]].to_csv(fx_csv, index=False, date_format="%Y-%m-%d")
        customer_mrr.to_csv(mrr_csv, index=False, date_format="%Y-%m-%d")
        first_paid[["customer_id", "first_paid_month"]].to_csv(fp_csv, index=False, date_format="%Y-%m-%d")
        paths = {"customer_mrr": mrr_csv.as_posix(), "first_paid": fp_csv.as_posix(), "fx_rates": fx_csv.as_posix(),
                 "reporting": reporting_currency.upper()}
        started = time.perf_counter()
        with duckdb.connect() as con:
            movements = con.execute(MOVEMENTS_SQL.format(**paths)).df()
            mrr = con.execute(MRR_SQL.format(**paths)).df()
        seconds = time.perf_counter() - started
    for frame in (movements, mrr):
        frame["month"] = pd.to_datetime(frame["month"]).astype("datetime64[ns]")
    return FloorResult(seconds=seconds, movements=movements, mrr=mrr)


def compare_with_pipeline(floor: FloorResult, pipeline_movements: pd.DataFrame, pipeline_kpi: pd.DataFrame) -> FloorCheck:
    """Row-for-row movement and amount, and monthly MRR / customer count (segment 'all')."""
    first = pipeline_movements["month"].min()
    ours = pipeline_movements[pipeline_movements["month"] > first]
    ours = ours[(ours["mrr_start"] > 0) | (ours["mrr_end"] > 0)]
    merged = ours[["month", "customer_id", "movement", "amount"]].merge(
        floor.movements[["month", "customer_id", "movement", "amount"]],
        on=["month", "customer_id"], how="outer", suffixes=("_pipeline", "_duckdb"), indicator=True,
    )
    bad = (merged["_merge"] != "both") | (merged["movement_pipeline"] != merged["movement_duckdb"]) | (
        (merged["amount_pipeline"] - merged["amount_duckdb"]).abs() > AMOUNT_TOLERANCE
    )
    head = pipeline_kpi[(pipeline_kpi["segment"] == "all") & pipeline_kpi["metric"].isin(["mrr", "customers"])]
    wide = head.pivot_table(index="month", columns="metric", values="value").reset_index()
    both = wide.merge(floor.mrr, on="month", how="inner", suffixes=("_pipeline", "_duckdb"))
    mrr_bad = ((both["mrr_pipeline"] - both["mrr_duckdb"]).abs() > 0.005) | (
        both["customers_pipeline"] != both["customers_duckdb"]
    )
    return FloorCheck(
        rows_compared=len(merged),
        movement_mismatches=int(bad.fillna(True).sum()),
        mrr_months_compared=len(both),
        mrr_mismatches=int(mrr_bad.sum()) + abs(len(wide) - len(both)),
    )
