"""A source system missing entirely: every domain function gets empty canonical frames
(next to a revenue that does exist) and returns its rows with NULL where undefined,
never a crash. This is the periods-import situation: billing only, nothing else."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from saas_metrics.config import Settings
from saas_metrics.metrics import (
    ad_spend,
    attribution,
    cac,
    demos,
    funnel,
    health,
    identity,
    nps,
    support,
    trials,
    usage,
)
from saas_metrics.sources import schemas as s
from saas_metrics.tables import coerce_frame

MAY, JUNE = pd.Timestamp("2024-05-01"), pd.Timestamp("2024-06-01")
MONTHS = [MAY, JUNE]
AS_OF = pd.Timestamp("2026-01-01")


def empty(schema):
    return schema.empty_frame()


@pytest.fixture
def world() -> dict[str, object]:
    settings = Settings(end_month=dt.date(2024, 6, 1))
    movements = pd.DataFrame({"month": [MAY], "customer_id": ["c1"], "mrr_start": [0.0], "mrr_start_fx": [0.0],
                              "mrr_end": [100.0], "movement": ["new"], "amount": [100.0], "fx_impact": [0.0]})
    snapshots = pd.DataFrame({"month": [MAY], "customer_id": ["c1"], "currency": ["USD"], "mrr_local": [100.0],
                              "fx_rate": [1.0], "mrr": [100.0], "plan_tier": ["pro"], "billing_interval": ["month"],
                              "subscriptions": [1]})
    customers = coerce_frame(pd.DataFrame({"customer_id": ["c1"]}), s.BILLING_CUSTOMERS)
    links, unmatched = identity.resolve_identities(customers, empty(s.CRM_COMPANIES), empty(s.CRM_CONTACTS), empty(s.PRODUCT_ACCOUNTS))
    first_paid = pd.DataFrame({"customer_id": ["c1"], "first_paid_month": [MAY], "first_paid_at": [pd.Timestamp("2024-05-03")]})
    return {"settings": settings, "movements": movements, "snapshots": snapshots, "customers": customers,
            "links": links, "unmatched": unmatched, "first_paid": first_paid}


def value(kpis: pd.DataFrame, metric: str, month: pd.Timestamp = MAY) -> float:
    row = kpis[(kpis["metric"] == metric) & (kpis["segment"] == "all") & (kpis["month"] == month)]
    assert len(row) == 1, f"{metric} missing for {month:%Y-%m}"
    return float(row["value"].iloc[0])


def test_identity_without_crm_or_product_lists_the_customer_as_unmatched(world: dict) -> None:
    links = world["links"]
    assert links["customer_id"].tolist() == ["c1"]
    assert links["crm_company_id"].isna().all() and links["product_account_id"].isna().all()
    assert set(world["unmatched"]["reason"]) == {"crm:no_email_domain", "product:no_email_domain"}


def test_acquisition_without_ads_crm_or_finance_is_null_not_zero_division(world: dict) -> None:
    policy = world["settings"].acquisition
    staged = ad_spend.stage_ad_spend(empty(s.AD_SPEND), empty(s.FX_RATES), "USD")
    credits = attribution.attribute(world["movements"], empty(s.CRM_TOUCHPOINTS), empty(s.CRM_CONTACTS),
                                    empty(s.CRM_DEALS), world["links"], policy, first_paid=world["first_paid"])
    # the one new customer has no touchpoints: every model credits (none) with its 100 of new MRR
    assert set(credits["channel"]) == {"(none)"}
    assert credits.groupby("model")["new_mrr"].sum().eq(100.0).all()
    kpis = cac.cac_kpis(staged, empty(s.FINANCE_EXPENSES), empty(s.FX_RATES), world["movements"],
                        identity.customer_channel(world["links"], empty(s.CRM_CONTACTS)), credits,
                        pd.Series(dtype=float), pd.Series(dtype=float), MONTHS, policy, "USD")
    assert value(kpis, "sm_spend") == 0.0  # the function alone: a month without rows is 0 spend
    assert np.isnan(value(kpis, "cac", JUNE))  # no new customer in June: undefined
    missing = cac.without_spend_data(kpis)  # what the asset does when no spend source has any row
    assert np.isnan(value(missing, "sm_spend")) and np.isnan(value(missing, "cac"))
    untouched = ~kpis["metric"].isin(cac.SPEND_METRICS)
    pd.testing.assert_frame_equal(missing[untouched], kpis[untouched])


def test_funnel_trials_and_demos_without_crm_web_or_product(world: dict) -> None:
    policy = world["settings"].acquisition
    kpis = funnel.funnel_kpis(empty(s.WEB_SESSIONS), empty(s.CRM_CONTACTS), empty(s.CRM_FORM_SUBMISSIONS),
                              empty(s.PRODUCT_ACCOUNTS), empty(s.PRODUCT_USAGE), world["movements"], world["first_paid"],
                              world["links"], MONTHS, AS_OF, policy, billing_customers=world["customers"])
    assert value(kpis, "leads") == 0.0
    assert np.isnan(value(kpis, "lead_to_customer_rate_period"))
    trial = trials.trial_kpis(empty(s.CRM_FORM_SUBMISSIONS), empty(s.PRODUCT_ACCOUNTS), world["first_paid"],
                              world["links"], MONTHS, AS_OF, policy)
    assert np.isnan(value(trial, "trial_to_paid_rate"))
    demo = demos.demo_kpis(empty(s.CRM_MEETINGS), empty(s.CRM_FORM_SUBMISSIONS), world["first_paid"], world["links"],
                           MONTHS, AS_OF, policy, contacts=empty(s.CRM_CONTACTS))
    assert np.isnan(value(demo, "demo_to_paid_rate"))


def test_engagement_support_and_nps_without_product_or_support_data(world: dict) -> None:
    policy = world["settings"].engagement
    engagement = usage.account_engagement(empty(s.PRODUCT_USAGE), world["links"], MONTHS, empty(s.PRODUCT_USAGE),
                                          policy, snapshots=world["snapshots"])
    assert engagement.empty  # no product account linked: usage unknown, not 0
    history = empty(s.BILLING_SUBSCRIPTION_STATUS_HISTORY).assign(customer_id=pd.Series(dtype="str"))
    scores = health.customer_health(engagement, world["snapshots"], empty(s.SUPPORT_TICKETS), empty(s.NPS_RESPONSES),
                                    history, empty(s.BILLING_INVOICES), empty(s.BILLING_PAYMENTS),
                                    empty(s.PRODUCT_ACCOUNTS)[["account_id", "seats"]], MONTHS, policy)
    assert scores["customer_id"].tolist() == ["c1"]
    at_risk = usage.at_risk_accounts(engagement, world["snapshots"], scores, None, policy)
    assert at_risk.empty
    assert np.isnan(value(nps.nps_kpis(empty(s.NPS_RESPONSES), MONTHS), "nps"))
    assert value(support.support_kpis(empty(s.SUPPORT_TICKETS), MONTHS, snapshots=world["snapshots"]), "tickets_created") == 0.0


def test_lookups_through_empty_tables_do_not_crash(world: dict) -> None:
    """pandas 3 cannot map through an empty datetime Series: a deal created after the
    conversion (no deal before it) and a month with no paying customer at all."""
    policy = world["settings"].acquisition
    deals = coerce_frame(pd.DataFrame({"deal_id": ["d1"], "contact_id": ["k1"], "created_at": ["2024-07-01"]}), s.CRM_DEALS)
    contacts = coerce_frame(pd.DataFrame({"contact_id": ["k1"], "billing_customer_id": ["c1"], "created_at": ["2024-04-01"]}), s.CRM_CONTACTS)
    credits = attribution.attribute(world["movements"], empty(s.CRM_TOUCHPOINTS), contacts, deals, world["links"], policy,
                                    first_paid=world["first_paid"])
    assert credits.groupby("model")["new_mrr"].sum().eq(100.0).all()
    no_paid = world["first_paid"].iloc[0:0]
    kpis = funnel.funnel_kpis(empty(s.WEB_SESSIONS), contacts, empty(s.CRM_FORM_SUBMISSIONS), empty(s.PRODUCT_ACCOUNTS),
                              empty(s.PRODUCT_USAGE), world["movements"].iloc[0:0], no_paid, world["links"], MONTHS, AS_OF,
                              policy, billing_customers=world["customers"])
    assert value(kpis, "leads") == 0.0 and np.isnan(value(kpis, "lead_to_customer_rate_period"))
