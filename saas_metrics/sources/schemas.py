"""Canonical schemas of every source table.

Each source module maps its system's native export onto exactly these columns;
everything downstream sees only these. Money is in major units (dollars, not
cents) of the row's ``currency`` (ISO 4217, upper case). Timestamps are naive
UTC. ``time_column`` places a fact row in its monthly partition; tables
without one are dimension snapshots (unpartitioned).

Every raw table also carries the lineage columns of :data:`LINEAGE_COLUMNS`, so
any number can be traced back to its source file and line, and values that could
not be parsed are kept (as text) for the quarantine.
"""

from __future__ import annotations

from saas_metrics.tables import Column, TableSchema

C = Column

LINEAGE_COLUMNS: tuple[Column, ...] = (
    C("_source_file", "str", "landing file (or API/SQL object) the row came from"),
    C("_source_line", "int", "1-based data line in that file (header excluded)"),
    C("_parse_errors", "json", "JSON object {column: original text} of values that failed to parse; null when clean"),
)

#: Acquisition channels, the shared vocabulary of CRM, web, ads and attribution.
CHANNELS = (
    "google_ads",
    "meta_ads",
    "linkedin_ads",
    "organic_search",
    "organic_social",
    "email",
    "referral",
    "direct",
    "other",
)
PAID_CHANNELS = ("google_ads", "meta_ads", "linkedin_ads")
AD_PLATFORMS = PAID_CHANNELS

SUBSCRIPTION_STATUSES = (
    "trialing", "active", "past_due", "unpaid", "paused", "canceled", "incomplete", "incomplete_expired",
)
BILLING_INTERVALS = ("day", "week", "month", "year")
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
INVOICE_LINE_TYPES = ("subscription", "invoiceitem", "metered")
PAYMENT_STATUSES = ("succeeded", "failed", "pending")
LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other")
FORM_TYPES = ("free_trial", "live_demo", "video_demo", "contact", "newsletter")
TOUCH_TYPES = ("ad_click", "form_submission", "email_click", "page_visit")
DEMO_TYPES = ("live", "video")
MEETING_OUTCOMES = ("scheduled", "completed", "no_show", "canceled")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("new", "open", "pending", "solved", "closed")
EXPENSE_DEPARTMENTS = ("sales", "marketing", "engineering", "support", "g_and_a")

SCHEMAS: dict[str, TableSchema] = {}


def _table(name: str, description: str, columns: list[Column], *, time_column: str | None = None, key: tuple[str, ...] = ()) -> TableSchema:
    schema = TableSchema(name=name, description=description, columns=tuple(columns) + LINEAGE_COLUMNS, time_column=time_column, key=key)
    SCHEMAS[name] = schema
    return schema


# --- billing (Stripe-like) -------------------------------------------------
BILLING_CUSTOMERS = _table("billing_customers", "Billing customers (Stripe customers). Snapshot.", [
    C("customer_id", "str", "billing customer id (cus_...)", nullable=False),
    C("email", "str", "billing email (PII)"),
    C("company_name", "str", "customer name (PII)"),
    C("country", "str", "ISO 3166 alpha-2 billing country"),
    C("currency", "str", "default currency, ISO 4217 upper case"),
    C("created_at", "datetime"),
    C("crm_company_id", "str", "explicit link to the CRM company, when set"),
    C("referred_by_customer_id", "str", "customer who referred this one (referral programme)"),
], key=("customer_id",))

BILLING_PRICES = _table("billing_prices", "Prices/plans (Stripe prices). Snapshot.", [
    C("price_id", "str", nullable=False),
    C("product_id", "str"),
    C("plan_name", "str"),
    C("plan_tier", "str", "starter / growth / enterprise ..."),
    C("unit_amount", "float", "price per unit per interval, major units"),
    C("currency", "str"),
    C("price_type", "str", "recurring or one_time"),
    C("interval", "str", "day / week / month / year (recurring only)"),
    C("interval_count", "int", "number of intervals per billing period (3 months = quarter, 2 years = multi-year)"),
    C("usage_type", "str", "licensed or metered"),
], key=("price_id",))

BILLING_SUBSCRIPTIONS = _table("billing_subscriptions", "Subscriptions (Stripe subscriptions), current state. Snapshot.", [
    C("subscription_id", "str", nullable=False),
    C("customer_id", "str", nullable=False),
    C("status", "str", "current status"),
    C("created_at", "datetime"),
    C("start_at", "datetime"),
    C("trial_start", "datetime"),
    C("trial_end", "datetime"),
    C("cancel_at_period_end", "bool"),
    C("cancel_at", "datetime", "scheduled cancellation (future) if any"),
    C("canceled_at", "datetime", "when the cancellation was requested"),
    C("ended_at", "datetime", "when the subscription actually ended (end of the paid period)"),
    C("history_since", "datetime", "item and status history known from this instant only (e.g. Stripe's 30-day event "
      "retention); null: complete since the subscription began"),
    C("cancellation_reason", "str", "Stripe cancellation_details.reason: cancellation_requested / payment_failed / payment_disputed"),
    C("cancellation_feedback", "str", "Stripe cancellation_details.feedback: too_expensive, missing_features, switched_service, unused, ..."),
    C("cancellation_comment", "str", "Stripe cancellation_details.comment (the customer's words)"),
], key=("subscription_id",))

BILLING_SUBSCRIPTION_ITEMS = _table("billing_subscription_items", "Subscription item versions (history): each row one price/quantity valid over [valid_from, valid_to). Snapshot.", [
    C("item_version_id", "str", nullable=False),
    C("item_id", "str", nullable=False),
    C("subscription_id", "str", nullable=False),
    C("price_id", "str", nullable=False),
    C("quantity", "float"),
    C("valid_from", "datetime"),
    C("valid_to", "datetime", "exclusive; null while current"),
], key=("item_version_id",))

BILLING_SUBSCRIPTION_STATUS_HISTORY = _table("billing_subscription_status_history", "Subscription status over time [valid_from, valid_to) (from subscription.updated events). Snapshot.", [
    C("subscription_id", "str", nullable=False),
    C("status", "str", nullable=False),
    C("valid_from", "datetime"),
    C("valid_to", "datetime", "exclusive; null while current"),
], key=("subscription_id", "valid_from"))

BILLING_DISCOUNTS = _table("billing_discounts", "Discounts applied to subscriptions (percent off over [start_at, end_at)). Snapshot.", [
    C("discount_id", "str", nullable=False),
    C("subscription_id", "str", nullable=False),
    C("percent_off", "float", "0-100"),
    C("start_at", "datetime"),
    C("end_at", "datetime", "exclusive; null = forever"),
], key=("discount_id",))

BILLING_INVOICES = _table("billing_invoices", "Invoices, partitioned by creation month.", [
    C("invoice_id", "str", nullable=False),
    C("customer_id", "str", nullable=False),
    C("subscription_id", "str"),
    C("status", "str"),
    C("created_at", "datetime"),
    C("due_at", "datetime"),
    C("paid_at", "datetime"),
    C("period_start", "datetime"),
    C("period_end", "datetime"),
    C("currency", "str"),
    C("subtotal", "float", "before tax, after discounts"),
    C("tax", "float"),
    C("total", "float"),
    C("amount_paid", "float"),
], time_column="created_at", key=("invoice_id",))

BILLING_INVOICE_LINES = _table("billing_invoice_lines", "Invoice line items (Stripe line item objects) with their invoice's customer, status and dates: the revenue history billing systems keep. Snapshot.", [
    C("line_id", "str", "line item id (il_...)", nullable=False),
    C("invoice_id", "str", nullable=False),
    C("customer_id", "str", "the invoice's customer"),
    C("subscription_id", "str", "subscription the line bills (null for a one-off invoice item)"),
    C("item_id", "str", "subscription item the line bills"),
    C("price_id", "str"),
    C("quantity", "float"),
    C("amount", "float", "before discounts and tax, major units; negative for a credit (unused time of a proration)"),
    C("discount_amount", "float", "sum of the line's discount_amounts"),
    C("discount_ids", "str", "the discounts behind discount_amount (di_...), comma-separated"),
    C("tax", "float", "sum of the line's tax_amounts"),
    C("currency", "str"),
    C("period_start", "datetime", "service period start (inclusive)"),
    C("period_end", "datetime", "service period end (exclusive)"),
    C("proration", "bool"),
    C("line_type", "str", "subscription / invoiceitem (one-off) / metered (usage-based subscription line)"),
    C("interval", "str", "the line's price: day / week / month / year (when the export expands the price)"),
    C("interval_count", "int", "the line's price: intervals per billing period"),
    C("invoice_status", "str", "draft / open / paid / uncollectible / void"),
    C("invoice_created_at", "datetime"),
    C("invoice_due_at", "datetime"),
    C("invoice_paid_at", "datetime"),
], key=("line_id",))

BILLING_PAYMENTS = _table("billing_payments", "Payments (Stripe charges), partitioned by creation month.", [
    C("payment_id", "str", nullable=False),
    C("customer_id", "str", nullable=False),
    C("invoice_id", "str"),
    C("amount", "float"),
    C("currency", "str"),
    C("status", "str"),
    C("created_at", "datetime"),
], time_column="created_at", key=("payment_id",))

BILLING_REFUNDS = _table("billing_refunds", "Refunds, partitioned by creation month.", [
    C("refund_id", "str", nullable=False),
    C("payment_id", "str"),
    C("customer_id", "str"),
    C("amount", "float"),
    C("currency", "str"),
    C("status", "str"),
    C("created_at", "datetime"),
], time_column="created_at", key=("refund_id",))

BILLING_SUBSCRIPTION_PERIODS = _table("billing_subscription_periods", "Periods-style billing import: monthly_amount over [start_date, end_date). Snapshot.", [
    C("subscription_id", "str", nullable=False),
    C("customer_id", "str", nullable=False),
    C("start_date", "date"),
    C("end_date", "date", "exclusive; null = still active"),
    C("monthly_amount", "float", "MRR of the period, already normalised to a month"),
    C("currency", "str", "defaults to the reporting currency when absent"),
    C("plan_id", "str"),
], key=("subscription_id", "start_date"))

# --- CRM (HubSpot-like) ----------------------------------------------------
CRM_CONTACTS = _table("crm_contacts", "CRM contacts with lifecycle-stage timestamps. Snapshot.", [
    C("contact_id", "str", nullable=False),
    C("email", "str", "PII"),
    C("first_name", "str", "PII"),
    C("last_name", "str", "PII"),
    C("company_id", "str"),
    C("created_at", "datetime"),
    C("lifecycle_stage", "str", "current stage"),
    C("original_source", "str", "canonical channel of first visit"),
    C("original_campaign", "str"),
    C("lead_at", "datetime"),
    C("mql_at", "datetime"),
    C("sql_at", "datetime"),
    C("opportunity_at", "datetime"),
    C("customer_at", "datetime"),
    C("billing_customer_id", "str", "explicit link to billing, when set"),
    C("owner_id", "str"),
    C("visitor_id", "str", "web analytics visitor id (cookie)"),
    C("referred_by_customer_id", "str"),
], key=("contact_id",))

CRM_COMPANIES = _table("crm_companies", "CRM companies. Snapshot.", [
    C("company_id", "str", nullable=False),
    C("name", "str", "PII"),
    C("domain", "str"),
    C("country", "str"),
    C("created_at", "datetime"),
    C("owner_id", "str"),
    C("billing_customer_id", "str", "explicit link to billing, when set"),
    C("churn_reason", "str", "why the customer left (a HubSpot company property), when recorded"),
], key=("company_id",))

CRM_DEALS = _table("crm_deals", "CRM deals. Snapshot.", [
    C("deal_id", "str", nullable=False),
    C("company_id", "str"),
    C("contact_id", "str"),
    C("created_at", "datetime"),
    C("closed_at", "datetime"),
    C("stage", "str"),
    C("is_closed_won", "bool"),
    C("amount", "float", "first-year contract value"),
    C("currency", "str"),
    C("stage_probability", "float", "win probability of the current stage, 0-1 (HubSpot hs_deal_stage_probability), when exported"),
    C("closed_lost_reason", "str", "why a lost deal or a churned customer was lost (HubSpot closed_lost_reason), when exported"),
], key=("deal_id",))

CRM_CHURN_REASONS = _table("crm_churn_reasons", "Churn reasons recorded by hand (churn_reasons.csv): one row per customer and churn. Snapshot.", [
    C("customer_id", "str", "billing customer id", nullable=False),
    C("churned_at", "datetime", "when the customer left (or the reason was recorded)", nullable=False),
    C("reason", "str", "why (free text or a category; normalised to snake_case downstream)"),
    C("comment", "str"),
], key=("customer_id", "churned_at"))

CRM_FORM_SUBMISSIONS = _table("crm_form_submissions", "Form submissions, partitioned by submission month.", [
    C("submission_id", "str", nullable=False),
    C("contact_id", "str", nullable=False),
    C("form_type", "str", "free_trial / live_demo / video_demo / contact / newsletter"),
    C("submitted_at", "datetime"),
    C("utm_source", "str"),
    C("utm_medium", "str"),
    C("utm_campaign", "str"),
    C("channel", "str"),
], time_column="submitted_at", key=("submission_id",))

CRM_TOUCHPOINTS = _table("crm_touchpoints", "Marketing touchpoints of contacts, partitioned by month.", [
    C("touchpoint_id", "str", nullable=False),
    C("contact_id", "str", nullable=False),
    C("touched_at", "datetime"),
    C("touch_type", "str"),
    C("utm_source", "str"),
    C("utm_medium", "str"),
    C("utm_campaign", "str"),
    C("channel", "str"),
], time_column="touched_at", key=("touchpoint_id",))

CRM_MEETINGS = _table("crm_meetings", "Demo meetings (live) and on-demand video demo views, partitioned by start month.", [
    C("meeting_id", "str", nullable=False),
    C("contact_id", "str", nullable=False),
    C("demo_type", "str", "live or video"),
    C("requested_at", "datetime"),
    C("start_at", "datetime"),
    C("outcome", "str", "scheduled / completed / no_show / canceled"),
], time_column="start_at", key=("meeting_id",))

WEB_SESSIONS = _table("web_sessions", "Website sessions (GA4-like), partitioned by month.", [
    C("session_id", "str", nullable=False),
    C("visitor_id", "str", nullable=False),
    C("started_at", "datetime"),
    C("utm_source", "str"),
    C("utm_medium", "str"),
    C("utm_campaign", "str"),
    C("channel", "str"),
], time_column="started_at", key=("session_id",))

# --- ad platforms ----------------------------------------------------------
AD_SPEND = _table("ad_spend", "Daily campaign spend of Google, Meta and LinkedIn Ads in one schema, partitioned by month.", [
    C("date", "date", nullable=False),
    C("platform", "str", "google_ads / meta_ads / linkedin_ads", nullable=False),
    C("account_id", "str"),
    C("campaign_id", "str", nullable=False),
    C("campaign_name", "str"),
    C("channel", "str"),
    C("currency", "str", "account currency"),
    C("spend", "float", "in account currency"),
    C("impressions", "int"),
    C("clicks", "int"),
    C("platform_conversions", "float", "conversions as the platform claims them; never summed across platforms as customers"),
], time_column="date", key=("date", "platform", "campaign_id"))

# --- finance & fx ----------------------------------------------------------
FINANCE_EXPENSES = _table("finance_expenses", "Expense ledger lines, partitioned by month.", [
    C("expense_id", "str", nullable=False),
    C("date", "date"),
    C("gl_account", "str"),
    C("category", "str", "salaries / tools / agencies / events / other"),
    C("department", "str", "sales / marketing / engineering / support / g_and_a"),
    C("amount", "float"),
    C("currency", "str"),
], time_column="date", key=("expense_id",))

FINANCE_CASH_BALANCES = _table("finance_cash_balances", "Bank account balances (statement or month-end balance), partitioned by month.", [
    C("date", "date", "balance date (the last one of a month is that month's closing balance)", nullable=False),
    C("account_id", "str", "bank account", nullable=False),
    C("account_name", "str"),
    C("balance", "float", "balance in the account's currency"),
    C("currency", "str"),
], time_column="date", key=("date", "account_id"))

FX_RATES = _table("fx_rates", "Daily FX rates: 1 unit of currency = rate_to_usd USD. Partitioned by month.", [
    C("date", "date", nullable=False),
    C("currency", "str", nullable=False),
    C("rate_to_usd", "float"),
], time_column="date", key=("date", "currency"))

# --- product ----------------------------------------------------------------
PRODUCT_ACCOUNTS = _table("product_accounts", "Product accounts (workspaces). Snapshot.", [
    C("account_id", "str", nullable=False),
    C("created_at", "datetime"),
    C("signup_source", "str", "self_serve or sales"),
    C("email_domain", "str"),
    C("billing_customer_id", "str", "explicit link to billing, when set"),
    C("crm_contact_id", "str"),
    C("trial_started_at", "datetime", "null when the account never started its trial"),
    C("seats", "int", "licensed seats"),
], key=("account_id",))

PRODUCT_USAGE = _table("product_usage", "Daily usage per user and event (Segment/Amplitude-style daily counts), partitioned by month.", [
    C("date", "date", nullable=False),
    C("account_id", "str", nullable=False),
    C("user_id", "str", nullable=False),
    C("event_name", "str", nullable=False),
    C("event_count", "int"),
], time_column="date", key=("date", "account_id", "user_id", "event_name"))

# --- support ----------------------------------------------------------------
SUPPORT_TICKETS = _table("support_tickets", "Support tickets (Zendesk-like), partitioned by creation month.", [
    C("ticket_id", "str", nullable=False),
    C("customer_id", "str", "billing customer id (organization external id)"),
    C("created_at", "datetime"),
    C("priority", "str"),
    C("status", "str"),
    C("first_response_at", "datetime"),
    C("solved_at", "datetime"),
    C("category", "str", "what the ticket is about (a category field), when exported"),
    C("tags", "str", "the ticket's tags, comma or space separated, when exported"),
], time_column="created_at", key=("ticket_id",))

NPS_RESPONSES = _table("nps_responses", "NPS survey responses, partitioned by month.", [
    C("response_id", "str", nullable=False),
    C("customer_id", "str"),
    C("score", "int", "0-10"),
    C("submitted_at", "datetime"),
], time_column="submitted_at", key=("response_id",))
