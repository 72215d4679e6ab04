"""Identity resolution: explicit ids first, then email domain; free-mail never matches."""

from __future__ import annotations

import math

import pandas as pd

from saas_metrics.metrics.identity import (
    contact_customers,
    customer_channel,
    match_rate_warnings,
    match_rates,
    normalise_domain,
    resolve_identities,
)

T = pd.Timestamp


def _billing() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["cus_explicit", "cus_domain", "cus_free", "cus_cmp"],
        "email": ["ap@explicit.io", "Billing@WWW.Domain.COM", "jane@gmail.com", "x@cmp.org"],
        "crm_company_id": [None, None, None, "co_cmp"],
    })


def _companies() -> pd.DataFrame:
    return pd.DataFrame({
        "company_id": ["co_explicit", "co_domain", "co_cmp", "co_orphan"],
        "domain": ["explicit.io", "https://www.domain.com/about", "cmp.org", "orphan.net"],
        "created_at": [T("2024-01-01")] * 4,
        "billing_customer_id": ["cus_explicit", None, None, "cus_missing"],
    })


def _contacts() -> pd.DataFrame:
    return pd.DataFrame({
        "contact_id": ["k_exp", "k_dom_late", "k_dom_early", "k_free", "k_cmp"],
        "email": ["a@explicit.io", "b@domain.com", "c@domain.com", "jane@gmail.com", "d@cmp.org"],
        "company_id": ["co_explicit", "co_domain", "co_domain", None, "co_cmp"],
        "created_at": [T("2024-01-05"), T("2024-02-01"), T("2024-01-10"), T("2024-01-01"), T("2024-01-03")],
        "billing_customer_id": [None, None, None, None, None],
        "original_source": ["google_ads", "email", "linkedin_ads", "organic_search", None],
        "original_campaign": ["g1", None, "li1", None, None],
    })


def _accounts() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["acc_exp", "acc_dom", "acc_free"],
        "email_domain": ["explicit.io", "domain.com", "gmail.com"],
        "billing_customer_id": ["cus_explicit", None, None],
        "crm_contact_id": [None, None, None],
        "created_at": [T("2024-01-06"), T("2024-01-11"), T("2024-01-02")],
    })


def _resolve():
    return resolve_identities(_billing(), _companies(), _contacts(), _accounts())


def test_normalise_domain_strips_case_scheme_www_and_path():
    got = normalise_domain(pd.Series(["A@WWW.Foo.IO", "https://www.bar.com/x", "baz.org", None, ""]))
    assert got.iloc[:3].tolist() == ["foo.io", "bar.com", "baz.org"]
    assert got.iloc[3:].isna().all()


def test_normalise_domain_edge_cases():
    raw = ["a@b@c.org", "x\n@y.com", "a@https://b.com/c", "ftp://x.y/", "www.www.a.com", "foo.com.", "www.", "..",
           "1http://a.com", " HTTP://a.b "]
    got = normalise_domain(pd.Series(raw))
    assert got.iloc[:6].tolist() == ["c.org", "y.com", "b.com", "x.y", "www.a.com", "foo.com"]
    assert got.iloc[6:8].isna().all()  # nothing left once "www." and the trailing dots go
    assert got.iloc[8:].tolist() == ["1http:", "a.b"]  # not a scheme (must start with a letter)


def test_explicit_link_wins_and_is_labelled_explicit():
    links, _ = _resolve()
    row = links.set_index("customer_id").loc["cus_explicit"]
    assert row["crm_company_id"] == "co_explicit"
    assert row["crm_contact_id"] == "k_exp"  # contact of the explicitly linked company
    assert row["product_account_id"] == "acc_exp"
    assert row["match_method"] == "explicit"


def test_domain_match_picks_earliest_contact_and_is_labelled_email_domain():
    links, _ = _resolve()
    row = links.set_index("customer_id").loc["cus_domain"]
    assert row["crm_company_id"] == "co_domain"
    assert row["crm_contact_id"] == "k_dom_early"
    assert row["product_account_id"] == "acc_dom"
    assert row["match_method"] == "email_domain"


def test_billing_side_explicit_company_id():
    links, _ = _resolve()
    row = links.set_index("customer_id").loc["cus_cmp"]
    assert (row["crm_company_id"], row["crm_contact_id"], row["crm_match_method"]) == ("co_cmp", "k_cmp", "explicit")


def test_free_mail_domain_is_not_identifying_and_is_reported_without_pii():
    links, unmatched = _resolve()
    row = links.set_index("customer_id").loc["cus_free"]
    assert pd.isna(row["crm_company_id"]) and pd.isna(row["crm_contact_id"]) and pd.isna(row["product_account_id"])
    assert row["match_method"] == "none"
    free = unmatched[unmatched["record_id"] == "cus_free"]
    assert sorted(free["reason"]) == ["crm:free_mail_domain", "product:free_mail_domain"]
    assert set(free["domain"]) == {"gmail.com"}
    assert list(unmatched.columns) == ["record_type", "record_id", "domain", "reason"]
    assert not unmatched.astype(str).apply(lambda col: col.str.contains("@")).any().any()


def test_one_row_per_billing_customer_and_dangling_explicit_id_reported():
    links, unmatched = _resolve()
    assert sorted(links["customer_id"]) == ["cus_cmp", "cus_domain", "cus_explicit", "cus_free"]
    dangling = unmatched[unmatched["reason"] == "unknown_billing_customer_id"]
    assert dangling[["record_type", "record_id"]].values.tolist() == [["crm_company", "co_orphan"]]


def test_shared_domain_is_ambiguous_and_not_matched():
    billing = pd.DataFrame({"customer_id": ["a", "b"], "email": ["x@same.com", "y@same.com"], "crm_company_id": [None, None]})
    companies = pd.DataFrame({"company_id": ["co"], "domain": ["same.com"], "created_at": [T("2024-01-01")], "billing_customer_id": [None]})
    contacts = _contacts().iloc[0:0]
    accounts = _accounts().iloc[0:0]
    links, unmatched = resolve_identities(billing, companies, contacts, accounts)
    assert links["crm_company_id"].isna().all()
    assert set(unmatched.loc[unmatched["reason"].str.startswith("crm:"), "reason"]) == {"crm:ambiguous_domain"}


def test_match_rates_and_warning_below_threshold():
    links, _ = _resolve()
    rates = match_rates(links)
    assert rates["crm_match_rate"] == 0.75  # 3 of 4
    assert rates["product_match_rate"] == 0.5  # 2 of 4
    warnings = match_rate_warnings(rates, 0.9)
    assert len(warnings) == 2 and "crm_match_rate 75.0%" in warnings[0]
    assert match_rate_warnings(rates, 0.5) == []
    assert math.isnan(match_rates(links.iloc[0:0])["crm_match_rate"])


def test_customer_channel_from_primary_contact_unknown_when_unmatched():
    links, _ = _resolve()
    channels = customer_channel(links, _contacts()).set_index("customer_id")
    assert channels.loc["cus_domain", "channel"] == "linkedin_ads"
    assert channels.loc["cus_domain", "campaign"] == "li1"
    assert channels.loc["cus_free", "channel"] == "(unknown)"
    assert channels.loc["cus_cmp", "channel"] == "(unknown)"  # contact without a source


def test_contact_customers_maps_every_company_contact():
    links, _ = _resolve()
    mapping = contact_customers(links, _contacts()).set_index("contact_id")["customer_id"]
    assert mapping["k_dom_late"] == "cus_domain" and mapping["k_dom_early"] == "cus_domain"
    assert "k_free" not in mapping.index
