"""Identity resolution: billing customer <-> CRM company/contact <-> product account.

docs/metric-definitions.md#customer: CRM and product records link to a
billing customer through identity resolution, explicit id mapping first, then
email domain.

Rules, in priority order (the first rule that finds a record wins):

CRM company
  1. explicit: billing ``crm_company_id``; 2. explicit: a company whose
  ``billing_customer_id`` is the customer; 3. explicit: the company of a contact
  whose ``billing_customer_id`` is the customer; 4. email_domain: a company whose
  normalised ``domain`` equals the customer's billing email domain.
CRM contact (the primary contact: earliest created among the winning rule's candidates)
  1. explicit: contacts whose ``billing_customer_id`` is the customer; 2. contacts of
  the matched company (method of the company link); 3. email_domain: contacts whose
  email domain equals the customer's domain.
Product account (earliest created)
  1. explicit: ``billing_customer_id``; 2. explicit: ``crm_contact_id`` is the primary
  contact; 3. email_domain: ``email_domain`` equals the customer's domain.

Domains are normalised (lower case, scheme/path/``www.`` stripped, the part after
``@`` for emails). Free-mail domains (gmail.com, outlook.com, ...) identify a person,
not a company, and are never matched. A domain shared by several billing customers
is ambiguous and never matched either. Records already linked explicitly to another
customer are not matched by domain.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from saas_metrics.tables import isin

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
        "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.ru",
        "yandex.com", "qq.com", "163.com", "hotmail.co.uk", "yahoo.co.uk", "zoho.com",
    }
)

EXPLICIT = "explicit"
EMAIL_DOMAIN = "email_domain"
NO_MATCH = "none"
UNKNOWN = "(unknown)"

LINK_COLUMNS = [
    "customer_id", "crm_company_id", "crm_contact_id", "product_account_id",
    "match_method", "crm_match_method", "product_match_method",
]
UNMATCHED_COLUMNS = ["record_type", "record_id", "domain", "reason"]


_DOMAIN_PATTERN = r"(?s)^(?:.*@)?(?:[a-z][a-z0-9+.-]*://)?(?:www\.)?([^/]*)"


def normalise_domain(values: pd.Series) -> pd.Series:
    """Lower-cased domain of an email address, URL or bare domain; NaN when empty."""
    values = pd.Series(values)
    if values.isna().all():  # the .str chain below needs at least one string
        return pd.Series([np.nan] * len(values), index=values.index, dtype="str")
    s = pd.Series(values, dtype="str").str.strip().str.lower()
    # One Arrow regex pass: the part after the last "@", without a URL scheme and a leading
    # "www.", up to the first "/" (one pass over the column instead of one per split and replace).
    s = s.str.extract(_DOMAIN_PATTERN, expand=False).str.rstrip(".")
    return s.where(s.str.len() > 0)


def is_free_mail(domains: pd.Series) -> pd.Series:
    return domains.isin(FREE_MAIL_DOMAINS)


def _earliest(frame: pd.DataFrame, key: str, id_col: str) -> pd.DataFrame:
    """One row per ``key``: the earliest created (ties: smallest id)."""
    if frame.empty:
        return frame
    return frame.sort_values(["created_at", id_col], na_position="last").drop_duplicates(key, keep="first")


def _first_by_priority(candidates: list[pd.DataFrame], value_col: str) -> pd.DataFrame:
    """customer_id -> value_col, method: the first candidate frame that has the customer wins."""
    stacked = [c.assign(_priority=i) for i, c in enumerate(candidates) if not c.empty]
    if not stacked:
        return pd.DataFrame(columns=["customer_id", value_col, "method"])
    both = pd.concat(stacked, ignore_index=True)
    both = both.sort_values(["_priority", "created_at", value_col], na_position="last")
    return both.drop_duplicates("customer_id", keep="first")[["customer_id", value_col, "method"]]


def resolve_identities(
    billing_customers: pd.DataFrame,
    crm_companies: pd.DataFrame,
    crm_contacts: pd.DataFrame,
    product_accounts: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link every billing customer to its CRM company, primary CRM contact and product account.

    Returns ``(links, unmatched)``. ``links`` has one row per billing customer:
    customer_id, crm_company_id, crm_contact_id, product_account_id, match_method
    ('explicit' when every link found is explicit, 'email_domain' when any link used
    the domain, 'none' when nothing matched), crm_match_method and
    product_match_method (the same per side). ``unmatched`` (no PII: ids, domains and
    reasons only) lists billing customers without a CRM or product match
    (reason ``crm:<why>`` / ``product:<why>``, why = free_mail_domain, no_email_domain,
    ambiguous_domain or no_match) and CRM/product records whose explicit billing id
    names no billing customer (reason unknown_billing_customer_id).
    """
    customers = billing_customers[["customer_id"]].drop_duplicates().copy()
    email = billing_customers.drop_duplicates("customer_id").set_index("customer_id")["email"] if "email" in billing_customers else None
    customers["domain"] = normalise_domain(customers["customer_id"].map(email) if email is not None else pd.Series(np.nan, index=customers.index))
    domain_owners = customers["domain"].dropna().value_counts()
    customers["domain_status"] = np.select(
        [
            customers["domain"].isna(),
            is_free_mail(customers["domain"]),
            customers["domain"].map(domain_owners).fillna(0) > 1,
        ],
        ["no_email_domain", "free_mail_domain", "ambiguous_domain"],
        default="ok",
    )
    usable = customers.loc[customers["domain_status"] == "ok", ["customer_id", "domain"]]
    known = set(customers["customer_id"])

    companies = crm_companies.assign(domain_norm=normalise_domain(crm_companies["domain"]))
    contacts = crm_contacts.assign(domain_norm=normalise_domain(crm_contacts["email"]))
    accounts = product_accounts.assign(domain_norm=normalise_domain(product_accounts["email_domain"]))
    companies = companies.rename(columns={"company_id": "crm_company_id"})
    contacts = contacts.rename(columns={"contact_id": "crm_contact_id"})
    accounts = accounts.rename(columns={"account_id": "product_account_id"})

    # --- CRM company ---------------------------------------------------------
    billing_side = billing_customers[["customer_id", "crm_company_id"]].dropna() if "crm_company_id" in billing_customers else pd.DataFrame(columns=["customer_id", "crm_company_id"])
    billing_side = billing_side.merge(companies[["crm_company_id", "created_at"]], on="crm_company_id")
    company_side = companies.loc[isin(companies["billing_customer_id"], known), ["billing_customer_id", "crm_company_id", "created_at"]].rename(columns={"billing_customer_id": "customer_id"})
    contact_company = contacts.loc[isin(contacts["billing_customer_id"], known) & contacts["company_id"].notna(), ["billing_customer_id", "company_id"]]
    contact_company = contact_company.rename(columns={"billing_customer_id": "customer_id", "company_id": "crm_company_id"}).merge(companies[["crm_company_id", "created_at"]], on="crm_company_id")
    explicit_companies = set(billing_side["crm_company_id"]) | set(company_side["crm_company_id"]) | set(contact_company["crm_company_id"])
    domain_company = usable.merge(
        companies.loc[~isin(companies["crm_company_id"], explicit_companies), ["crm_company_id", "domain_norm", "created_at"]],
        left_on="domain", right_on="domain_norm",
    )
    company = _first_by_priority(
        [
            billing_side.assign(method=EXPLICIT),
            company_side.assign(method=EXPLICIT),
            contact_company.assign(method=EXPLICIT),
            domain_company.assign(method=EMAIL_DOMAIN),
        ],
        "crm_company_id",
    ).rename(columns={"method": "company_method"})

    # --- CRM contact ---------------------------------------------------------
    explicit_contact = contacts.loc[isin(contacts["billing_customer_id"], known), ["billing_customer_id", "crm_contact_id", "created_at"]].rename(columns={"billing_customer_id": "customer_id"})
    via_company = company.merge(
        contacts[["company_id", "crm_contact_id", "created_at"]], left_on="crm_company_id", right_on="company_id"
    ).rename(columns={"company_method": "method"})[["customer_id", "crm_contact_id", "created_at", "method"]]
    explicit_contacts = set(contacts.loc[contacts["billing_customer_id"].notna(), "crm_contact_id"])
    domain_contact = usable.merge(
        contacts.loc[~isin(contacts["crm_contact_id"], explicit_contacts), ["crm_contact_id", "domain_norm", "created_at"]],
        left_on="domain", right_on="domain_norm",
    )
    contact = _first_by_priority(
        [explicit_contact.assign(method=EXPLICIT), via_company, domain_contact.assign(method=EMAIL_DOMAIN)],
        "crm_contact_id",
    ).rename(columns={"method": "contact_method"})

    # --- product account -----------------------------------------------------
    explicit_account = accounts.loc[isin(accounts["billing_customer_id"], known), ["billing_customer_id", "product_account_id", "created_at"]].rename(columns={"billing_customer_id": "customer_id"})
    via_contact = contact.merge(
        accounts[["crm_contact_id", "product_account_id", "created_at"]], on="crm_contact_id"
    )[["customer_id", "product_account_id", "created_at"]]
    explicit_accounts = set(accounts.loc[accounts["billing_customer_id"].notna(), "product_account_id"])
    domain_account = usable.merge(
        accounts.loc[~isin(accounts["product_account_id"], explicit_accounts), ["product_account_id", "domain_norm", "created_at"]],
        left_on="domain", right_on="domain_norm",
    )
    account = _first_by_priority(
        [explicit_account.assign(method=EXPLICIT), via_contact.assign(method=EXPLICIT), domain_account.assign(method=EMAIL_DOMAIN)],
        "product_account_id",
    ).rename(columns={"method": "product_match_method"})

    links = customers.merge(company, on="customer_id", how="left").merge(contact, on="customer_id", how="left").merge(account, on="customer_id", how="left")
    crm_method = links["company_method"].fillna(links["contact_method"])
    links["crm_match_method"] = crm_method.fillna(NO_MATCH)
    links["product_match_method"] = links["product_match_method"].fillna(NO_MATCH)
    any_domain = (links["crm_match_method"] == EMAIL_DOMAIN) | (links["product_match_method"] == EMAIL_DOMAIN)
    any_link = (links["crm_match_method"] != NO_MATCH) | (links["product_match_method"] != NO_MATCH)
    links["match_method"] = np.where(any_domain, EMAIL_DOMAIN, np.where(any_link, EXPLICIT, NO_MATCH))
    links = links[LINK_COLUMNS].sort_values("customer_id").reset_index(drop=True)

    unmatched = _unmatched(customers, links, companies, contacts, accounts, known)
    return links, unmatched


def _unmatched(
    customers: pd.DataFrame,
    links: pd.DataFrame,
    companies: pd.DataFrame,
    contacts: pd.DataFrame,
    accounts: pd.DataFrame,
    known: set[str],
) -> pd.DataFrame:
    why = customers.set_index("customer_id")["domain_status"].replace("ok", "no_match")
    domain = customers.set_index("customer_id")["domain"]
    parts = []
    for side, column in (("crm", "crm_match_method"), ("product", "product_match_method")):
        ids = links.loc[links[column] == NO_MATCH, "customer_id"]
        parts.append(pd.DataFrame({"record_type": "billing_customer", "record_id": ids, "domain": ids.map(domain), "reason": side + ":" + ids.map(why).astype(str)}))
    for record_type, frame, id_col in (
        ("crm_company", companies, "crm_company_id"),
        ("crm_contact", contacts, "crm_contact_id"),
        ("product_account", accounts, "product_account_id"),
    ):
        dangling = frame[frame["billing_customer_id"].notna() & ~isin(frame["billing_customer_id"], known)]
        parts.append(pd.DataFrame({"record_type": record_type, "record_id": dangling[id_col], "domain": dangling["domain_norm"], "reason": "unknown_billing_customer_id"}))
    out = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(not p.empty for p in parts) else pd.DataFrame(columns=UNMATCHED_COLUMNS)
    return out[UNMATCHED_COLUMNS].reset_index(drop=True)


def match_rates(links: pd.DataFrame) -> dict[str, float]:
    """Share of billing customers linked to the CRM (company or contact) and to a
    product account; NaN when there are no customers."""
    n = len(links)
    crm = (links["crm_company_id"].notna() | links["crm_contact_id"].notna()).sum()
    product = links["product_account_id"].notna().sum()
    return {
        "customers": float(n),
        "crm_match_rate": float(crm) / n if n else float("nan"),
        "product_match_rate": float(product) / n if n else float("nan"),
    }


def match_rate_warnings(rates: dict[str, float], warn_below: float) -> list[str]:
    """Human-readable warnings for match rates below ``warn_below``
    (``AcquisitionPolicy.identity_match_rate_warn_below``)."""
    return [
        f"{name} {rates[name]:.1%} is below {warn_below:.1%}"
        for name in ("crm_match_rate", "product_match_rate")
        if not np.isnan(rates[name]) and rates[name] < warn_below
    ]


def contact_customers(links: pd.DataFrame, contacts: pd.DataFrame | None = None) -> pd.DataFrame:
    """contact_id -> customer_id for every CRM contact that belongs to a billing customer:
    the contact's explicit ``billing_customer_id`` first, then membership of the
    customer's linked company, then being the customer's primary contact."""
    primary = links.loc[links["crm_contact_id"].notna(), ["crm_contact_id", "customer_id"]].rename(columns={"crm_contact_id": "contact_id"})
    parts = []
    if contacts is not None and not contacts.empty:
        known = set(links["customer_id"])
        explicit = contacts.loc[isin(contacts["billing_customer_id"], known), ["contact_id", "billing_customer_id"]].rename(columns={"billing_customer_id": "customer_id"})
        by_company = contacts[["contact_id", "company_id"]].dropna().merge(
            links[["crm_company_id", "customer_id"]].dropna(), left_on="company_id", right_on="crm_company_id"
        )[["contact_id", "customer_id"]]
        parts += [explicit, by_company]
    parts.append(primary)
    out = pd.concat([p for p in parts if not p.empty] or [primary], ignore_index=True)
    return out.drop_duplicates("contact_id", keep="first").reset_index(drop=True)


def customer_channel(links: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """customer_id, channel, campaign: a customer's acquisition channel is its primary
    contact's ``original_source`` (campaign: ``original_campaign``); '(unknown)' when the
    customer has no CRM contact or the source is empty (campaign '(unknown)' likewise)."""
    source = contacts.drop_duplicates("contact_id").set_index("contact_id")
    out = links[["customer_id"]].copy()
    # As text first: with no contact the mapped column is float, which pandas will no longer fill with text.
    out["channel"] = links["crm_contact_id"].map(source["original_source"]).astype("str").fillna(UNKNOWN)
    out["campaign"] = links["crm_contact_id"].map(source["original_campaign"]).astype("str").fillna(UNKNOWN)
    return out.reset_index(drop=True)
