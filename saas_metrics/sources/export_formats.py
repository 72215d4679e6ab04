"""The CSV exports people download without an API key, declared as data (docs/sources.md).

Each :class:`ExportFormat` names the native file it stands for, the native columns that
identify it (any of their export names will do), native column -> export column(s) (first
present wins), the conversions from the download's value forms to the native file's, and the
columns a download may lack. :mod:`saas_metrics.sources.exports` reads files with them.
Conversions take text and give text; a value that does not convert is kept as it was, so the
reader records the original text as a parse error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Currencies Stripe states in major units already (no cents).
ZERO_DECIMAL_CURRENCIES = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                                     "VUV", "XAF", "XOF", "XPF"})
#: In an export column name, where a currency code stands (Meta's 'Amount spent (EUR)').
CURRENCY_SLOT = "{CUR}"
#: Prefix of helper columns a format maps for a derivation; they never reach the reader.
EXTRA = "_x_"

Converter = Callable[[pd.Series, pd.DataFrame], pd.Series]


def normalise_name(name: str) -> str:
    """Header names compared without case, surrounding blanks or doubled spaces."""
    return " ".join(str(name).replace("\ufeff", "").split()).casefold()


def _numbers(values: pd.Series) -> pd.Series:
    """Decimal text without thousands separators or currency signs; '--' (no data) -> null."""
    text = values.map(lambda v: v.replace(",", "").replace("$", "").replace("€", "").replace("£", "").strip()
                      if isinstance(v, str) else v)
    text = text.map(lambda v: None if v in ("--", "") else v)
    parsed = pd.to_numeric(text, errors="coerce")
    return text.where(parsed.notna() | text.isna(), values)


def number(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    return _numbers(values)


def _scaled(values: pd.Series, factor: pd.Series | float) -> pd.Series:
    """Decimal text x factor as whole-number text (money in minor units or micros)."""
    text = _numbers(values)
    parsed = pd.to_numeric(text, errors="coerce")
    scaled = np.round(parsed.astype(float) * factor)
    out = pd.Series([None if pd.isna(v) else str(int(v)) for v in scaled], index=values.index, dtype=object)
    return out.where(parsed.notna(), text)


def minor_units(currency_column: str) -> Converter:
    """Major units (Stripe Dashboard exports) -> minor units of each row's currency, as Stripe's API has them."""
    def convert(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
        currency = frame[currency_column] if currency_column in frame else pd.Series(None, index=values.index, dtype=object)
        zero = currency.map(lambda c: isinstance(c, str) and c.upper() in ZERO_DECIMAL_CURRENCIES).to_numpy(dtype=bool)
        return _scaled(values, pd.Series(np.where(zero, 1.0, 100.0), index=values.index))
    return convert


def micros(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Google Ads' Cost (account currency) -> cost_micros."""
    return _scaled(values, 1e6)


def code(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """HubSpot labels -> internal values: 'Marketing Qualified Lead' -> 'marketingqualifiedlead', 'Closed Won' -> 'closedwon'."""
    return values.map(lambda v: re.sub(r"[^0-9a-z]", "", v.lower()) or None if isinstance(v, str) else v)


def lower(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    return values.map(lambda v: v.lower() if isinstance(v, str) else v)


def status(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Stripe statuses as the API writes them: 'Past Due' / 'past_due' -> 'past_due'."""
    return values.map(lambda v: re.sub(r"[\s-]+", "_", v.strip().lower()) if isinstance(v, str) else v)


#: HubSpot's original-source labels whose internal value is not the label in upper snake case.
_HUBSPOT_SOURCE_VALUES = {"OFFLINE_SOURCES": "OFFLINE", "OFFLINE_SOURCE": "OFFLINE", "ORGANIC_SOCIAL": "SOCIAL_MEDIA"}


def hubspot_source(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """'Paid Social' -> 'PAID_SOCIAL', 'Offline Sources' -> 'OFFLINE', 'Organic Social' (the newer label of
    Social media) -> 'SOCIAL_MEDIA' (hs_analytics_source values)."""
    def one(v: object) -> object:
        if not isinstance(v, str):
            return v
        value = re.sub(r"[^0-9A-Z]+", "_", v.upper()).strip("_")
        return _HUBSPOT_SOURCE_VALUES.get(value, value)
    return values.map(one)


def first_id(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """The first of HubSpot's associated ids ('111;222' -> '111')."""
    return values.map(lambda v: re.split(r"[;,]", v)[0].strip() or None if isinstance(v, str) else v)


def us_date(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """'6/1/2026' (LinkedIn, Google Ads in US locale) or 'Jun 1, 2026' -> '2026-06-01'; ISO text is kept."""
    def one(v: object) -> object:
        if not isinstance(v, str):
            return v
        for fmt in ("%m/%d/%Y", "%b %d, %Y", "%B %d, %Y"):
            try:
                return pd.to_datetime(v, format=fmt).strftime("%Y-%m-%d")
            except ValueError:
                continue
        return v
    return values.map(one)


_PAYMENT_STATUS = {"paid": "succeeded", "succeeded": "succeeded", "refunded": "succeeded", "partially refunded": "succeeded",
                   "failed": "failed"}


def payment_status(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Stripe's payments export says Paid / Refunded / Failed; the charge object succeeded / failed."""
    return values.map(lambda v: _PAYMENT_STATUS.get(v.lower(), v.lower()) if isinstance(v, str) else v)


def price_type(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """A price with a billing interval is recurring, one without is one-time (the prices export has no type)."""
    return values.map(lambda v: "recurring" if isinstance(v, str) else "one_time")


def iso_utc(values: pd.Series) -> pd.Series:
    """'2026-01-05 09:30' (UTC) -> '2026-01-05T09:30:00Z', the form of today's files; other text is kept."""
    parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
    iso = pd.Series([None if pd.isna(t) else t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in parsed], index=values.index, dtype=object)
    return iso.where(parsed.notna(), values)


def meta_account(values: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Ads Manager's numeric account id -> 'act_<id>' as the Marketing API writes it."""
    return values.map(lambda v: f"act_{v}" if isinstance(v, str) and v.isdigit() else v)


@dataclass(frozen=True)
class ExportFormat:
    """One downloadable export: how to recognise it and how it maps onto a native file."""

    key: str
    title: str
    target: str
    #: native columns whose export column (any of its candidates) a header must have to be this format
    signature: tuple[str, ...]
    columns: Mapping[str, tuple[str, ...]]
    convert: Mapping[str, Converter] = field(default_factory=dict)
    metadata: bool = False
    #: native column filled from a currency code in a header such as 'Amount spent (EUR)'.
    currency_from_header: str | None = None
    #: summary rows whose first cell starts with 'Total' are not data (Google Ads downloads).
    total_rows: bool = False
    #: native columns a download may lack (optional columns, metadata, custom properties): read as null
    #: with a logged warning. Any other mapped column it lacks is reported by the reader (a schema failure).
    optional: tuple[str, ...] = ()
    #: native columns the reader uses only when the file has them (otherwise it falls back to another)
    when_present: tuple[str, ...] = ()

    def matches(self, header: set[str]) -> bool:
        return not self.lacks(header)

    def lacks(self, header: set[str]) -> list[str]:
        """The identifying export columns a header (normalised names) lacks, each by its first name."""
        return [self.columns[n][0] for n in self.signature if not any(normalise_name(c) in header for c in self.columns[n])]

    def identifying_columns(self) -> list[str]:
        """The export column names that identify the format (the first name of each)."""
        return [self.columns[n][0] for n in self.signature]

    def known_columns(self) -> list[str]:
        return [c for candidates in self.columns.values() for c in candidates]


# Where each header set comes from, and which columns are assumed: docs/sources.md.
FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        key="stripe_customers", title="Stripe Dashboard customers export (unified_customers.csv)",
        target="billing/customers.csv", signature=("id", "email", "created"), metadata=True,
        columns={"id": ("id",), "email": ("Email",), "name": ("Name", "Description"), "created": ("Created (UTC)",),
                 "currency": ("Currency",), "address_country": ("Address Country", "Card Address Country"),
                 "metadata_crm_company_id": ("crm_company_id (metadata)",), "metadata_referred_by": ("referred_by (metadata)",)},
        optional=("name", "currency", "address_country", "metadata_crm_company_id", "metadata_referred_by")),
    ExportFormat(
        key="stripe_prices", title="Stripe Dashboard prices export (prices.csv)",
        target="billing/prices.csv", signature=("id", "product", "unit_amount"), metadata=True,
        columns={"id": ("Price ID",), "product": ("Product ID",), "product_name": ("Product Name",),
                 "nickname": ("Description",), "unit_amount": ("Amount",), "currency": ("Currency",),
                 "type": ("Interval",), "recurring_interval": ("Interval",), "recurring_interval_count": ("Interval Count",),
                 "recurring_usage_type": ("Usage Type",), "billing_scheme": ("Billing Scheme",),
                 "created": ("Created (UTC)",), "metadata_tier": ("tier (metadata)",)},
        optional=("nickname", "recurring_interval_count", "recurring_usage_type", "billing_scheme", "created", "metadata_tier"),
        when_present=("product_name",),
        convert={"unit_amount": minor_units("currency"), "type": price_type, "recurring_usage_type": lower,
                 "billing_scheme": lower}),
    ExportFormat(
        key="stripe_subscriptions", title="Stripe Dashboard subscriptions export (subscriptions.csv)",
        target="billing/subscriptions.csv", signature=("id", "customer", "current_period_start"), metadata=True,
        columns={"id": ("id",), "customer": ("Customer ID",), "status": ("Status",), "created": ("Created (UTC)",),
                 "start_date": ("Start Date (UTC)", "Start (UTC)"), "trial_start": ("Trial Start (UTC)",),
                 "trial_end": ("Trial End (UTC)",), "cancel_at_period_end": ("Cancel At Period End",),
                 "cancel_at": ("Cancel At (UTC)",), "canceled_at": ("Canceled At (UTC)",), "ended_at": ("Ended At (UTC)",),
                 "current_period_start": ("Current Period Start (UTC)",), "current_period_end": ("Current Period End (UTC)",),
                 "collection_method": ("Collection Method", "Billing"),
                 EXTRA + "plan": ("Price ID", "Plan ID", "Plan"), EXTRA + "product": ("Product ID", "Product"),
                 EXTRA + "quantity": ("Quantity",), EXTRA + "currency": ("Currency",), EXTRA + "amount": ("Amount",),
                 EXTRA + "interval": ("Interval",), EXTRA + "interval_count": ("Interval Count",)},
        optional=("cancel_at_period_end", "cancel_at", "current_period_start", "current_period_end", "collection_method"),
        convert={"status": status, "cancel_at_period_end": lower, EXTRA + "amount": minor_units(EXTRA + "currency"),
                 EXTRA + "quantity": number}),
    ExportFormat(
        key="stripe_invoices", title="Stripe Dashboard invoices export (invoices.csv)",
        target="billing/invoices.csv", signature=("id", "amount_due", "amount_paid"),
        columns={"id": ("id",), "customer": ("Customer", "Customer ID"), "subscription": ("Subscription", "Subscription ID"),
                 "status": ("Status",), "billing_reason": ("Billing Reason",), "created": ("Date (UTC)", "Created (UTC)"),
                 "due_date": ("Due Date (UTC)",), "status_transitions_paid_at": ("Paid At (UTC)",),
                 "period_start": ("Period Start (UTC)",), "period_end": ("Period End (UTC)",), "currency": ("Currency",),
                 "subtotal": ("Subtotal",), "tax": ("Tax",), "total": ("Total",), "amount_paid": ("Amount Paid",),
                 "amount_due": ("Amount Due",)},
        optional=("billing_reason", "due_date", "status_transitions_paid_at", "period_start", "period_end", "subtotal", "tax"),
        convert={"status": status, "billing_reason": lower, **{c: minor_units("currency") for c in (
            "subtotal", "tax", "total", "amount_paid", "amount_due")}}),
    ExportFormat(
        key="stripe_invoice_line_items", title="Stripe Dashboard invoice line items export",
        target="billing/invoice_lines.csv", signature=("invoice", "period_start", "period_end"),
        columns={"id": ("id", "Line Item ID"), "invoice": ("Invoice ID",), "subscription": ("Subscription", "Subscription ID"),
                 "subscription_item": ("Subscription Item", "Subscription Item ID"),
                 "price": ("Price ID", "Plan ID", "Price", "Plan"), "quantity": ("Quantity",), "amount": ("Amount",),
                 "currency": ("Currency",), "period_start": ("Period Start (UTC)",), "period_end": ("Period End (UTC)",),
                 "proration": ("Proration",), "type": ("Type",), "description": ("Description",)},
        optional=("subscription", "subscription_item", "price", "quantity", "proration", "type", "description"),
        convert={"amount": minor_units("currency"), "quantity": number, "proration": lower, "type": lower}),
    ExportFormat(
        key="stripe_payments", title="Stripe Dashboard payments export (unified_payments.csv)",
        target="billing/charges.csv", signature=("id", "amount_refunded", "created"), metadata=True,
        columns={"id": ("id",), "customer": ("Customer ID",), "invoice": ("Invoice ID",), "amount": ("Amount",),
                 "currency": ("Currency",), "status": ("Status",), "created": ("Created (UTC)",),
                 "amount_refunded": ("Amount Refunded",)},
        optional=("amount_refunded",),
        convert={"amount": minor_units("currency"), "amount_refunded": minor_units("currency"), "status": payment_status}),
    ExportFormat(
        key="stripe_refunds", title="Stripe Dashboard refunds export",
        target="billing/refunds.csv", signature=("id", "charge", "amount", "created"), metadata=True,
        columns={"id": ("id",), "charge": ("Charge ID",), EXTRA + "customer": ("Customer ID",), "amount": ("Amount",),
                 "currency": ("Currency",), "status": ("Status",), "created": ("Created (UTC)",), "reason": ("Reason",)},
        optional=("status", "reason"),
        convert={"amount": minor_units("currency"), "status": lower, "reason": lower}),
    ExportFormat(
        key="hubspot_contacts", title="HubSpot contacts export", target="crm/contacts.csv",
        signature=("hs_object_id", "email", "lifecyclestage"),
        columns={"hs_object_id": ("Record ID", "Contact ID"), "email": ("Email",), "firstname": ("First Name",), "lastname": ("Last Name",),
                 "associatedcompanyid": ("Associated Company IDs (Primary)", "Associated Company IDs", "Associated Company ID",
                                         "Primary Associated Company ID"),
                 "createdate": ("Create Date",), "lifecyclestage": ("Lifecycle Stage",),
                 "hs_analytics_source": ("Original Source",),
                 "hs_analytics_source_data_1": ("Original Source Drill-Down 1",),
                 "hs_analytics_source_data_2": ("Original Source Drill-Down 2",),
                 "hs_lifecyclestage_lead_date": ("Became a Lead Date", "Become a Lead Date"),
                 "hs_lifecyclestage_marketingqualifiedlead_date": ("Became a Marketing Qualified Lead Date",
                                                                   "Become a Marketing Qualified Lead Date"),
                 "hs_lifecyclestage_salesqualifiedlead_date": ("Became a Sales Qualified Lead Date",
                                                               "Become a Sales Qualified Lead Date"),
                 "hs_lifecyclestage_opportunity_date": ("Became an Opportunity Date", "Become an Opportunity Date"),
                 "hs_lifecyclestage_customer_date": ("Became a Customer Date", "Become a Customer Date"),
                 "stripe_customer_id": ("Stripe Customer ID",), "hubspot_owner_id": ("Contact owner ID", "Contact owner"),
                 "ga_client_id": ("GA Client ID",), "referred_by_customer_id": ("Referred By Customer ID",)},
        optional=("firstname", "lastname", "associatedcompanyid", "hs_analytics_source", "hs_analytics_source_data_1",
                  "hs_analytics_source_data_2", "hs_lifecyclestage_lead_date", "hs_lifecyclestage_marketingqualifiedlead_date",
                  "hs_lifecyclestage_salesqualifiedlead_date", "hs_lifecyclestage_opportunity_date",
                  "hs_lifecyclestage_customer_date", "stripe_customer_id", "hubspot_owner_id", "ga_client_id",
                  "referred_by_customer_id"),
        convert={"associatedcompanyid": first_id, "lifecyclestage": code, "hs_analytics_source": hubspot_source}),
    ExportFormat(
        key="hubspot_companies", title="HubSpot companies export", target="crm/companies.csv",
        signature=("hs_object_id", "name"),
        columns={"hs_object_id": ("Record ID", "Company ID"), "name": ("Company name",), "domain": ("Company Domain Name",),
                 "country": ("Country/Region",), "createdate": ("Create Date",),
                 "hubspot_owner_id": ("Company owner ID", "Company owner"), "stripe_customer_id": ("Stripe Customer ID",)},
        optional=("domain", "country", "createdate", "hubspot_owner_id", "stripe_customer_id")),
    ExportFormat(
        key="hubspot_deals", title="HubSpot deals export", target="crm/deals.csv",
        signature=("hs_object_id", "dealname", "dealstage"),
        columns={"hs_object_id": ("Record ID", "Deal ID"), "dealname": ("Deal Name",), "createdate": ("Create Date",),
                 "closedate": ("Close Date",), "dealstage": ("Deal Stage",), "amount": ("Amount",),
                 "deal_currency_code": ("Currency", "Deal currency code"),
                 "associated_company_id": ("Associated Company IDs (Primary)", "Associated Company IDs"),
                 "associated_contact_id": ("Associated Contact IDs",), "hs_is_closed_won": ("Is Closed Won",)},
        optional=("dealname", "closedate", "amount", "deal_currency_code", "associated_company_id", "associated_contact_id"),
        when_present=("hs_is_closed_won",),
        convert={"dealstage": code, "amount": number, "associated_company_id": first_id,
                 "associated_contact_id": first_id}),
    ExportFormat(
        key="google_ads_report", title="Google Ads campaign report download", target="ads/google_ads.csv",
        signature=("segments.date", "campaign.name", "metrics.cost_micros"), total_rows=True,
        columns={"segments.date": ("Day",), "customer.id": ("Customer ID", "Account ID"),
                 "customer.currency_code": ("Currency code", "Currency"), "campaign.id": ("Campaign ID", "Campaign"),
                 "campaign.name": ("Campaign",), "metrics.cost_micros": ("Cost",),
                 "metrics.impressions": ("Impr.", "Impressions"), "metrics.clicks": ("Clicks",),
                 "metrics.conversions": ("Conversions",)},
        optional=("customer.id", "metrics.impressions", "metrics.clicks", "metrics.conversions"),
        convert={"segments.date": us_date, "metrics.cost_micros": micros, "metrics.impressions": number,
                 "metrics.clicks": number, "metrics.conversions": number}),
    ExportFormat(
        key="meta_ads_report", title="Meta Ads Manager campaign report export", target="ads/meta_ads.csv",
        signature=("date_start", "campaign_name"), currency_from_header="account_currency",
        columns={"date_start": ("Reporting starts",), "date_stop": ("Reporting ends",), "account_id": ("Account ID",),
                 "account_currency": ("Currency",), "campaign_id": ("Campaign ID", "Campaign name"), "campaign_name": ("Campaign name",),
                 "spend": ("Amount spent (" + CURRENCY_SLOT + ")", "Amount spent"), "impressions": ("Impressions",),
                 "clicks": ("Link clicks", "Clicks (all)"), "actions_lead": ("Leads", "Results")},
        optional=("date_stop", "account_id", "impressions", "clicks", "actions_lead"),
        convert={"spend": number, "impressions": number, "clicks": number, "actions_lead": number, "account_id": meta_account}),
    ExportFormat(
        key="linkedin_ads_report", title="LinkedIn Campaign Manager campaign performance report",
        target="ads/linkedin_ads.csv", signature=("dateRange.start", "campaignName", "costInLocalCurrency"),
        currency_from_header="currency",
        columns={"dateRange.start": ("Start Date (in UTC)",), "account": ("Account ID",), "currency": ("Currency",),
                 "campaign": ("Campaign ID", "Campaign Name"), "campaignName": ("Campaign Name",), "costInLocalCurrency": ("Total Spent", "Total Spent (" + CURRENCY_SLOT + ")"),
                 "impressions": ("Impressions",), "clicks": ("Clicks",), "externalWebsiteConversions": ("Conversions",)},
        optional=("account", "impressions", "clicks", "externalWebsiteConversions"),
        convert={"dateRange.start": us_date, "costInLocalCurrency": number, "impressions": number, "clicks": number,
                 "externalWebsiteConversions": number}),
)
