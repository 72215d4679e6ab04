"""Attribution models on hand-made journeys, pinned to hand-computed credits."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.config import AcquisitionPolicy
from saas_metrics.metrics.attribution import (
    ATTRIBUTION_CREDITS,
    MODELS,
    TOUCHPOINT_COLUMNS,
    attribute,
    attribution_sums_check,
)

T = pd.Timestamp
MARCH = T("2024-03-01")


def _links(*customers: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [c for c, _ in customers],
        "crm_company_id": [None] * len(customers),
        "crm_contact_id": [k for _, k in customers],
        "product_account_id": [None] * len(customers),
    })


def _contacts(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({
        "contact_id": [k for k, _ in rows],
        "created_at": [T(d) for _, d in rows],
        "company_id": [None] * len(rows),
        "billing_customer_id": [None] * len(rows),
    })


def _touches(rows: list[tuple[str, str, str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "touchpoint_id": [r[0] for r in rows],
        "contact_id": [r[1] for r in rows],
        "touched_at": [T(r[2]) for r in rows],
        "channel": [r[3] for r in rows],
        "utm_campaign": [r[4] for r in rows],
    })


def _deals(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame({"deal_id": [f"d{i}" for i in range(len(rows))], "company_id": [None] * len(rows),
                         "contact_id": [k for k, _ in rows], "created_at": [T(d) for _, d in rows]})


def _new(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame({"month": MARCH, "customer_id": [r[0] for r in rows], "movement": "new",
                         "amount": [r[1] for r in rows], "first_paid_at": [T(r[2]) for r in rows]})


def _by_channel(credits: pd.DataFrame, model: str, column: str = "new_mrr") -> dict[str, float]:
    part = credits[credits["model"] == model]
    return part.groupby("channel")[column].sum().round(6).to_dict()


@pytest.fixture
def four_touch_credits() -> pd.DataFrame:
    """One customer, new MRR 100, converting 2024-03-15; lead created 03-08, deal 03-12.
    t1 03-01 google_ads, t2 03-08 email (lead-creation touch), t3 03-10 linkedin_ads
    (deal-creation touch: last touch before 03-12), t4 03-14 organic_search."""
    touches = _touches([
        ("t1", "k1", "2024-03-01", "google_ads", "g"),
        ("t2", "k1", "2024-03-08", "email", None),
        ("t3", "k1", "2024-03-10", "linkedin_ads", "li"),
        ("t4", "k1", "2024-03-14", "organic_search", None),
        ("t5", "k1", "2024-03-20", "direct", None),  # after conversion: ignored
    ])
    return attribute(_new([("c1", 100.0, "2024-03-15")]), touches, _contacts([("k1", "2024-03-08")]),
                     _deals([("k1", "2024-03-12")]), _links(("c1", "k1")), AcquisitionPolicy())


def test_touchpoints_need_only_the_declared_columns(four_touch_credits):
    # Every test here feeds exactly TOUCHPOINT_COLUMNS: what attribution_credits reads from the warehouse.
    assert tuple(_touches([]).columns) == TOUCHPOINT_COLUMNS
    assert not four_touch_credits.empty


def test_first_and_last_touch(four_touch_credits):
    assert _by_channel(four_touch_credits, "first_touch") == {"google_ads": 100.0}
    assert _by_channel(four_touch_credits, "last_touch") == {"organic_search": 100.0}


def test_linear_25_each(four_touch_credits):
    assert _by_channel(four_touch_credits, "linear") == {"google_ads": 25.0, "email": 25.0, "linkedin_ads": 25.0, "organic_search": 25.0}
    assert _by_channel(four_touch_credits, "linear", "customers") == {"google_ads": 0.25, "email": 0.25, "linkedin_ads": 0.25, "organic_search": 0.25}


def test_u_shaped_40_40_20(four_touch_credits):
    # 40 first, 40 lead creation (t2), 20 split over t3 and t4
    assert _by_channel(four_touch_credits, "u_shaped") == {"google_ads": 40.0, "email": 40.0, "linkedin_ads": 10.0, "organic_search": 10.0}


def test_w_shaped_30_30_30_10(four_touch_credits):
    assert _by_channel(four_touch_credits, "w_shaped") == {"google_ads": 30.0, "email": 30.0, "linkedin_ads": 30.0, "organic_search": 10.0}


def test_campaign_grain_and_schema(four_touch_credits):
    assert list(four_touch_credits.columns) == ATTRIBUTION_CREDITS.column_names
    first = four_touch_credits[four_touch_credits["model"] == "first_touch"]
    assert first[["channel", "campaign"]].values.tolist() == [["google_ads", "g"]]
    email = four_touch_credits[(four_touch_credits["model"] == "linear") & (four_touch_credits["channel"] == "email")]
    assert email["campaign"].tolist() == ["(none)"]


def test_time_decay_half_life_7_days_exact_to_the_cent():
    # touches 14, 7 and 0 days before conversion: weights 1/4, 1/2, 1 (sum 7/4)
    # credits 100 x (1/7, 2/7, 4/7) = 14.2857, 28.5714, 57.1429 -> cents floor 1428+2857+5714 = 9999;
    # the missing cent goes to the largest remainder (.57 of t1): 14.29, 28.57, 57.14
    touches = _touches([
        ("t1", "k1", "2024-03-01", "google_ads", None),
        ("t2", "k1", "2024-03-08", "meta_ads", None),
        ("t3", "k1", "2024-03-15", "email", None),
    ])
    credits = attribute(_new([("c1", 100.0, "2024-03-15")]), touches, _contacts([("k1", "2024-03-01")]),
                        _deals([]), _links(("c1", "k1")), AcquisitionPolicy())
    assert _by_channel(credits, "time_decay") == {"google_ads": 14.29, "meta_ads": 28.57, "email": 57.14}
    assert _by_channel(credits, "time_decay", "customers") == pytest.approx({"google_ads": 1 / 7, "meta_ads": 2 / 7, "email": 4 / 7})


def test_time_decay_honours_half_life_policy():
    touches = _touches([("t1", "k1", "2024-03-01", "google_ads", None), ("t2", "k1", "2024-03-15", "email", None)])
    credits = attribute(_new([("c1", 90.0, "2024-03-15")]), touches, _contacts([("k1", "2024-03-01")]),
                        _deals([]), _links(("c1", "k1")), AcquisitionPolicy(time_decay_half_life_days=14))
    # weights 1/2 and 1 -> 30 and 60
    assert _by_channel(credits, "time_decay") == {"google_ads": 30.0, "email": 60.0}


def test_one_touch_gets_everything_and_two_touch_u_shaped_split():
    touches = _touches([
        ("a1", "ka", "2024-03-02", "google_ads", None),
        ("b1", "kb", "2024-03-01", "meta_ads", None),
        ("b2", "kb", "2024-03-05", "email", None),
        ("c1", "kc", "2024-03-01", "meta_ads", None),
        ("c2", "kc", "2024-03-05", "email", None),
    ])
    contacts = _contacts([("ka", "2024-03-01"), ("kb", "2024-03-05"), ("kc", "2024-03-02")])
    links = _links(("A", "ka"), ("B", "kb"), ("C", "kc"))
    new = _new([("A", 10.0, "2024-03-10"), ("B", 100.0, "2024-03-10"), ("C", 1000.0, "2024-03-10")])
    credits = attribute(new, touches, contacts, _deals([]), links, AcquisitionPolicy())
    for model in MODELS:  # A: one touch -> 100 % to google_ads in every model
        assert _by_channel(credits, model)["google_ads"] == 10.0
    # B: touch 2 is the lead-creation touch -> 50/50; C: lead touch = touch 1 -> 80/20
    assert _by_channel(credits, "u_shaped") == {"google_ads": 10.0, "meta_ads": 50.0 + 800.0, "email": 50.0 + 200.0}
    # W-shaped without a deal renormalises 30/30/10: B 50/50, C (60 first+lead, 10 rest) -> 6/7, 1/7
    w = _by_channel(credits, "w_shaped")
    assert w == {"google_ads": 10.0, "meta_ads": 50.0 + 857.14, "email": 50.0 + 142.86}


def test_customer_without_touchpoints_goes_to_none_in_every_model():
    touches = _touches([("t1", "k1", "2024-03-01", "google_ads", "g")])
    new = _new([("c1", 100.0, "2024-03-15"), ("c2", 40.0, "2024-03-20")])
    credits = attribute(new, touches, _contacts([("k1", "2024-03-01")]), _deals([]), _links(("c1", "k1"), ("c2", None)), AcquisitionPolicy())
    for model in MODELS:
        part = credits[credits["model"] == model].set_index("channel")
        assert part.loc["(none)", "new_mrr"] == 40.0
        assert part.loc["(none)", "customers"] == 1.0
        assert part.loc["(none)", "campaign"] == "(none)"
        assert part.loc["google_ads", "new_mrr"] == 100.0


def test_reactivations_are_not_attributed_and_lookback_window_applies():
    touches = _touches([("t1", "k1", "2024-01-01", "google_ads", None), ("t2", "k1", "2024-03-10", "email", None)])
    movements = pd.concat([
        _new([("c1", 100.0, "2024-03-15")]),
        pd.DataFrame({"month": [MARCH], "customer_id": ["c9"], "movement": ["reactivation"], "amount": [500.0]}),
    ])
    credits = attribute(movements, touches, _contacts([("k1", "2024-01-01")]), _deals([]), _links(("c1", "k1")),
                        AcquisitionPolicy(attribution_lookback_days=30))
    assert credits.groupby("model")["new_mrr"].sum().eq(100.0).all()
    assert _by_channel(credits, "first_touch") == {"email": 100.0}


def test_month_credits_sum_exactly_to_new_mrr():
    # three customers with sub-cent amounts and three touches each: linear thirds never round cleanly
    rows, touch_rows, contact_rows, link_rows = [], [], [], []
    for i, amount in enumerate([33.333, 10.01, 0.07]):
        rows.append((f"c{i}", amount, "2024-03-28"))
        contact_rows.append((f"k{i}", "2024-03-01"))
        link_rows.append((f"c{i}", f"k{i}"))
        for j, channel in enumerate(["google_ads", "meta_ads", "email"]):
            touch_rows.append((f"t{i}{j}", f"k{i}", f"2024-03-0{j + 1}", channel, None))
    new = _new(rows)
    credits = attribute(new, _touches(touch_rows), _contacts(contact_rows), _deals([]), _links(*link_rows), AcquisitionPolicy())
    check = attribution_sums_check(credits, new)
    assert check["ok"].all()
    assert set(check["model"]) == set(MODELS)
    assert (check["new_mrr"] == 43.41).all()  # 33.333 + 10.01 + 0.07 = 43.413 -> 43.41
    for model in MODELS:
        cents = (credits.loc[credits["model"] == model, "new_mrr"] * 100).round(6)
        assert (cents == cents.round()).all()  # every credit is whole cents
        assert round(credits.loc[credits["model"] == model, "new_mrr"].sum(), 2) == 43.41


def test_sums_check_flags_missing_credits():
    new = _new([("c1", 100.0, "2024-03-15")])
    credits = ATTRIBUTION_CREDITS.empty_frame()
    check = attribution_sums_check(credits, new)
    assert not check["ok"].any()
    assert (check["mrr_residual"] == -100.0).all()


def test_bad_input_raises_clear_error():
    with pytest.raises(ValueError, match="amount"):
        attribute(pd.DataFrame({"month": [MARCH], "customer_id": ["c"]}), _touches([]), _contacts([]), _deals([]), _links(), AcquisitionPolicy())
    with pytest.raises(ValueError, match="non-negative"):
        attribute(_new([("c", -5.0, "2024-03-02")]), _touches([]), _contacts([]), _deals([]), _links(), AcquisitionPolicy())


def test_sub_cent_amounts_with_and_without_touches_still_sum_to_the_cent():
    # touched 10.006 -> 10.01; month total 30.012 -> 30.01, so '(none)' takes 30.01 - 10.01 = 20.00
    touches = _touches([("t1", "k1", "2024-03-01", "google_ads", None)])
    new = _new([("c1", 10.006, "2024-03-15"), ("c2", 20.006, "2024-03-15")])
    credits = attribute(new, touches, _contacts([("k1", "2024-03-01")]), _deals([]), _links(("c1", "k1"), ("c2", None)), AcquisitionPolicy())
    assert _by_channel(credits, "linear") == {"google_ads": 10.01, "(none)": 20.0}
    assert attribution_sums_check(credits, new)["ok"].all()


def test_no_new_customer_gives_no_credits_and_nothing_to_check():
    """A month (or a run without billing) with no new customer: an empty, typed credits table and an
    empty sums check, never a crash on untyped empty columns."""
    no_one = _new([]).iloc[0:0]
    credits = attribute(no_one, _touches([]), _contacts([]), _deals([]), _links(), AcquisitionPolicy())
    assert credits.empty and list(credits.columns) == ATTRIBUTION_CREDITS.column_names
    check = attribution_sums_check(credits, no_one)
    assert check.empty and "ok" in check.columns
