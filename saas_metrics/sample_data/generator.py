"""``generate``: write a deterministic simulated SaaS company's native exports.

One sub-folder per source system (billing, crm, web, ads, product, support,
finance, fx) plus ``_ground_truth/`` (ignored by the pipeline). The same
inputs give byte-identical files. docs/sources.md describes every file.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from saas_metrics.calendar import add_months as add_months_date
from saas_metrics.calendar import first_of_month, last_complete_month
from saas_metrics.sample_data import billing_export as bx
from saas_metrics.sample_data.ads_sim import simulate_ads
from saas_metrics.sample_data.billing_sim import BillingRecords, simulate_billing
from saas_metrics.sample_data.catalog import build_catalog
from saas_metrics.sample_data.churn_reasons_sim import plant_churn_reasons
from saas_metrics.sample_data.crm_sim import crm_company_id, native_frames, simulate_crm
from saas_metrics.sample_data.defects import SPECS, inject, to_cells
from saas_metrics.sample_data.finance_sim import (
    simulate_cash_balances,
    simulate_expenses,
    simulate_fx,
)
from saas_metrics.sample_data.ground_truth import customer_mrr
from saas_metrics.sample_data.manifest import ForeignFilesError, foreign_files, write_manifest
from saas_metrics.sample_data.population import build_population
from saas_metrics.sample_data.product_sim import pick_at_risk, simulate_usage
from saas_metrics.sample_data.support_sim import plant_ticket_topics, simulate_nps, simulate_tickets
from saas_metrics.sample_data.timeutil import add_months, iso_z
from saas_metrics.sample_data.web_sim import simulate_sessions

GROUND_TRUTH_DIR = "_ground_truth"
#: Every native file the simulator writes, relative to the output folder.
NATIVE_FILES = (
    "billing/customers.csv", "billing/prices.csv", "billing/subscriptions.csv", "billing/subscription_items.csv",
    "billing/subscription_status_history.csv", "billing/discounts.csv", "billing/invoices.csv", "billing/invoice_lines.csv",
    "billing/charges.csv", "billing/refunds.csv",
    "crm/contacts.csv", "crm/companies.csv", "crm/deals.csv", "crm/form_submissions.csv", "crm/touchpoints.csv",
    "crm/meetings.csv", "crm/churn_reasons.csv",
    "web/sessions.csv",
    "ads/google_ads.csv", "ads/meta_ads.csv", "ads/linkedin_ads.csv",
    "product/accounts.csv", "product/usage_daily.csv",
    "support/tickets.csv", "support/nps_responses.csv",
    "finance/expenses.csv", "finance/cash_balances.csv",
    "fx/rates.csv",
)
GROUND_TRUTH_FILES = tuple(f"{GROUND_TRUTH_DIR}/{name}" for name in
                           ("customer_mrr.csv", "planted_at_risk.csv", "channel_costs.csv", "defects.csv",
                            "planted_churn_reasons.csv", "planted_ticket_topics.csv"))


@dataclass
class GenerationSummary:
    out_dir: Path
    first_month: dt.date
    last_month: dt.date
    seed: int
    paths: list[Path] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    defects: int = 0


def _frame(rows: list[dict], datetime_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for col in datetime_columns:
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame


def _billing_frames(rec: BillingRecords) -> dict[str, pd.DataFrame]:
    subs = _frame(rec.subscriptions, ("created", "ended_at"))
    items = _frame(rec.items, ("valid_from", "valid_to"))
    statuses = _frame(rec.statuses, ("valid_from", "valid_to"))
    discounts = (_frame(rec.discounts, ("start", "end")) if rec.discounts else
                 pd.DataFrame({"discount_id": [], "subscription_id": [], "coupon_id": [], "percent_off": [], "duration": [],
                               "duration_in_months": [], "start": pd.Series(dtype="datetime64[ns]"),
                               "end": pd.Series(dtype="datetime64[ns]")}))
    return {"subscriptions": subs, "items": items, "statuses": statuses, "discounts": discounts}


def write_csv(cells: pd.DataFrame, path: Path) -> None:
    """Write a cell frame (``defects.to_cells``) as CSV: header, minimal quoting, '\\n' line ends."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(cells.columns)
        writer.writerows(zip(*(cells[c].to_numpy() for c in cells.columns), strict=True))


def _validate(customers: int, months: int, defect_rate: float) -> None:
    if customers < 1:
        raise ValueError(f"customers must be >= 1, got {customers}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if not 0.0 <= defect_rate < 1.0:
        raise ValueError(f"defect_rate must be in [0, 1), got {defect_rate}")


def generate(out_dir: Path, *, seed: int = 42, customers: int = 2000, months: int = 36, end_month: dt.date | None = None,
             defect_rate: float = 0.0, product_events: bool = True, force: bool = False) -> GenerationSummary:
    """Simulate ``customers`` billing customers acquired over ``months`` months ending with ``end_month``
    (default: the last complete UTC month), plus 30 % pre-existing ones, and write every source system's
    native export under ``out_dir``. ``defect_rate`` corrupts that fraction of the rows of the fact files
    and of customers/subscriptions (logged in ``_ground_truth/defects.csv``). ``product_events=False`` skips
    the (largest) usage file.

    Raises :class:`~saas_metrics.sample_data.manifest.ForeignFilesError`, writing nothing, when
    ``out_dir`` holds a file this generator did not write (or one changed since), unless ``force``."""
    _validate(customers, months, defect_rate)
    out_dir = Path(out_dir)
    foreign = [] if force else foreign_files(out_dir)
    if foreign:
        raise ForeignFilesError(out_dir, foreign)
    last = first_of_month(end_month) if end_month is not None else last_complete_month()
    first = add_months_date(last, -(months - 1))
    first_month = dt.datetime(first.year, first.month, 1)
    horizon = add_months(first_month, months)
    month_list = [add_months(first_month, i) for i in range(months)]
    rng = np.random.default_rng(seed)
    r = random.Random(int(rng.integers(0, 2**62)))

    pop = build_population(rng, customers, first_month, months).frame
    pop = pop[pop["created"] < pd.Timestamp(horizon)].reset_index(drop=True)
    pop["crm_company_id"] = [crm_company_id(i) for i in range(len(pop))]
    pop["billing_email"] = np.where(rng.random(len(pop)) < 0.5, "billing@" + pop["domain"], pop["email"])
    paid = pop["created"] + pd.to_timedelta(np.where(pop["trial"], 14, 0), unit="D")
    pop["first_paid_at"] = paid.where(pop["converts"] & (paid < pd.Timestamp(horizon)))

    catalog = build_catalog()
    rec = simulate_billing(r, pop, catalog, horizon)
    b = _billing_frames(rec)
    mrr = customer_mrr(b["items"], b["statuses"], b["discounts"], b["subscriptions"], catalog, month_list)
    at_risk = pick_at_risk(rng, mrr, b["subscriptions"], month_list)
    reasons = plant_churn_reasons(seed, b["subscriptions"], at_risk, pop.set_index("customer_id")["crm_company_id"], horizon)

    fx = simulate_fx(rng, add_months(first_month, -27), horizon)
    crm = simulate_crm(r, rng, pop, horizon, first_month, months)
    crm_files = native_frames(crm)
    crm_files["companies"]["churn_reason"] = crm_files["companies"]["hs_object_id"].map(reasons["company_reason"])
    crm_files["churn_reasons"] = reasons["file"]
    touches = pd.DataFrame({
        "occurred_at": pd.to_datetime([t["occurred_at"] for t in crm.touches]).astype("datetime64[ns]"),
        "event_type": [t["event_type"] for t in crm.touches], "visitor_id": [t["visitor_id"] for t in crm.touches],
        "utm_source": [t["utm"][0] for t in crm.touches], "utm_medium": [t["utm"][1] for t in crm.touches],
        "utm_campaign": [t["utm"][2] for t in crm.touches],
    })
    sessions = simulate_sessions(rng, touches, first_month, horizon)

    first_mrr_month = mrr.groupby("customer_id")["month"].min()
    new = pop[~pop["is_initial"]][["customer_id", "channel"]].assign(month=lambda f: f["customer_id"].map(first_mrr_month))
    new = new[new["month"].notna()]
    ad_files, channel_costs = simulate_ads(rng, new, month_list, fx)

    # Product accounts: one per billing customer (15 % without the billing link) and 10 % free workspaces.
    contact_of_customer = [c["hs_object_id"] for c in crm.contacts[: len(pop)]]
    n_free = len(pop) // 10
    account_number = np.arange(1, len(pop) + 1)
    accounts = pd.DataFrame({
        "customer_id": pop["customer_id"], "account_number": account_number,
        "account_id": [f"acc_{i:07d}" for i in account_number], "seats": pop["seats"],
    })
    signup = pop["created"] - pd.to_timedelta(rng.integers(60, 3600, len(pop)), unit="s")
    provisioned = pop["created"] + pd.to_timedelta(rng.integers(600, 2 * 86_400, len(pop)), unit="s")
    free_created = pd.Timestamp(first_month) + pd.to_timedelta(
        np.sort(rng.random(n_free)) * (pd.Timestamp(horizon) - pd.Timestamp(first_month)).total_seconds(), unit="s").floor("s")
    product_accounts = pd.DataFrame({
        "account_id": list(accounts["account_id"]) + [f"acc_{len(pop) + i + 1:07d}" for i in range(n_free)],
        "created_at": [iso_z(v) for v in pd.concat([signup.where(pop["trial"], provisioned.where(provisioned < pd.Timestamp(horizon), signup)),
                                                    pd.Series(free_created)]).dt.floor("s").dt.to_pydatetime()],
        "signup_source": list(np.where(pop["trial"] | ~pop["sales_led"], "self_serve", "sales")) + ["self_serve"] * n_free,
        "email_domain": list(pop["domain"]) + [f"free-{i + 1}.example.org" for i in range(n_free)],
        "billing_customer_id": list(pop["customer_id"].where(rng.random(len(pop)) >= 0.15, None)) + [None] * n_free,
        "crm_contact_id": contact_of_customer + [None] * n_free,
        "trial_started_at": [iso_z(v.to_pydatetime()) if t else None for v, t in zip(pop["created"], pop["trial"], strict=True)] + [None] * n_free,
        "seats": list(pop["seats"]) + [1] * n_free,
    })
    files: dict[str, pd.DataFrame] = {
        "billing/customers.csv": bx.customers_csv(pop),
        "billing/prices.csv": bx.prices_csv(catalog, pd.Timestamp(first_month) - pd.DateOffset(months=30)),
        "billing/subscriptions.csv": bx.subscriptions_csv(rec).join(reasons["stripe"], on="id"),
        "billing/subscription_items.csv": bx.subscription_items_csv(b["items"]),
        "billing/subscription_status_history.csv": bx.status_history_csv(b["statuses"]),
        "billing/discounts.csv": bx.discounts_csv(b["discounts"]),
        "billing/invoices.csv": bx.invoices_csv(rec),
        "billing/invoice_lines.csv": bx.invoice_lines_csv(rec, catalog),
        "billing/charges.csv": bx.charges_csv(rec),
        "billing/refunds.csv": bx.refunds_csv(rec),
        **{f"crm/{name}.csv": frame for name, frame in crm_files.items()},
        "web/sessions.csv": sessions,
        "ads/google_ads.csv": ad_files["google_ads"],
        "ads/meta_ads.csv": ad_files["meta_ads"],
        "ads/linkedin_ads.csv": ad_files["linkedin_ads"],
        "product/accounts.csv": product_accounts,
        "support/tickets.csv": simulate_tickets(rng, mrr, pop.set_index("customer_id")["seats"], at_risk, horizon),
        "support/nps_responses.csv": simulate_nps(rng, mrr, pop.set_index("customer_id")["billing_email"], at_risk, horizon),
        "finance/expenses.csv": simulate_expenses(rng, month_list, fx),
        "fx/rates.csv": fx.assign(date=fx["date"].dt.strftime("%Y-%m-%d")),
    }
    files["support/tickets.csv"], planted_topics = plant_ticket_topics(seed, files["support/tickets.csv"], at_risk)
    files["finance/cash_balances.csv"] = simulate_cash_balances(month_list, fx, files["billing/charges.csv"],
                                                                files["billing/refunds.csv"], files["finance/expenses.csv"])
    if product_events:
        statuses = b["statuses"].merge(b["subscriptions"][["subscription_id", "customer_id"]], on="subscription_id")
        files["product/usage_daily.csv"] = simulate_usage(rng, accounts, statuses, at_risk, first_month, horizon)

    defect_log: list[dict[str, object]] = []
    texts: dict[str, pd.DataFrame] = {}
    defect_rng = np.random.default_rng([seed, 7])
    for name in NATIVE_FILES:
        if name not in files:
            continue
        text = to_cells(files[name])
        if defect_rate > 0 and name in SPECS:
            text, log = inject(text, SPECS[name], name, defect_rate, defect_rng, horizon)
            defect_log += log
        texts[name] = text

    truth = {
        "customer_mrr.csv": mrr.assign(month=mrr["month"].dt.strftime("%Y-%m-%d"), mrr=mrr["mrr"].map(lambda v: f"{v:.6f}")),
        "planted_at_risk.csv": at_risk.assign(collapse_month=at_risk["collapse_month"].dt.strftime("%Y-%m-%d"),
                                              churn_month=at_risk["churn_month"].dt.strftime("%Y-%m-%d")),
        "channel_costs.csv": channel_costs,
        "defects.csv": pd.DataFrame(defect_log, columns=["file", "line", "column", "defect", "value"]),
        "planted_churn_reasons.csv": reasons["truth"],
        "planted_ticket_topics.csv": planted_topics,
    }
    for name, frame in truth.items():
        texts[f"{GROUND_TRUTH_DIR}/{name}"] = to_cells(frame)

    summary = GenerationSummary(out_dir=out_dir, first_month=first, last_month=last, seed=seed, defects=len(defect_log))
    for name in (*NATIVE_FILES, *GROUND_TRUTH_FILES):
        path = out_dir / name
        if name not in texts:
            path.unlink(missing_ok=True)  # a stale file of an earlier run with other options
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(texts[name], path)
        summary.paths.append(path)
        summary.row_counts[name] = len(texts[name])
    write_manifest(out_dir, summary.paths)
    return summary
