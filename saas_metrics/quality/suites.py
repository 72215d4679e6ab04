"""Which row rule applies to which column of which canonical table.

One :class:`TableRules` per canonical source table (``SUITES``), derived from the
canonical schema in :mod:`saas_metrics.sources.schemas` (keys, non-nullable
columns, time column) plus the per-table vocabularies, amount columns and
references declared below. :mod:`saas_metrics.quality.gx_context` turns each
entry into a Great Expectations expectation suite; nothing here imports GX.

Rule names (stable; they appear in ``quarantined_rows.rule``), in priority order:
a row violating several rules is filed under the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from saas_metrics.sources import schemas as s
from saas_metrics.tables import TableSchema

#: Row rules in priority order (most important first).
RULES: tuple[str, ...] = (
    "unparseable",  # a value (or the whole line) could not be parsed
    "not_null",  # a key / required column is null
    "duplicate",  # a later occurrence of a key, or an id already in another partition
    "allowed_values",  # a value outside its vocabulary (incl. unknown currency)
    "non_negative",  # an amount / count below 0
    "positive",  # a rate that must be > 0
    "range",  # a bounded score/percentage outside its bounds
    "in_window",  # the time column outside [window_start, window_end)
    "not_future",  # a timestamp after ``now``
    "reference",  # a foreign id that does not resolve
)
RULE_PRIORITY: dict[str, int] = {rule: i for i, rule in enumerate(RULES)}

#: The ``source`` (system) of each table, by table-name prefix.
SOURCE_SYSTEMS: dict[str, str] = {
    "billing_": "billing",
    "crm_": "crm",
    "web_": "web",
    "ad_": "ads",
    "finance_": "finance",
    "fx_": "fx",
    "product_": "product",
    "support_": "support",
    "nps_": "support",
}


def source_system(table: str) -> str:
    """The source system of a canonical table (``billing_invoices`` -> ``billing``)."""
    for prefix, system in SOURCE_SYSTEMS.items():
        if table.startswith(prefix):
            return system
    return table.split("_", 1)[0]


@dataclass(frozen=True)
class TableRules:
    """The declarative rule set of one canonical table.

    ``references`` maps a column to the name of an id set in
    ``ValidationContext.reference_ids`` (the rule is active only when that set is
    given); ``currency_columns`` are checked against ``known_currencies`` (active
    only when that set is non-empty); the time column is checked against the
    window (active only when the window is given).
    """

    table: str
    schema: TableSchema
    not_null: tuple[str, ...]
    key: tuple[str, ...]
    global_id: str | None
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    currency_columns: tuple[str, ...] = ()
    patterns: dict[str, str] = field(default_factory=dict)
    non_negative: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    time_column: str | None = None
    not_future: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)

    @property
    def required_columns(self) -> list[str]:
        """Canonical columns (lineage excluded) the frame must carry."""
        return [c.name for c in self.schema.columns if not c.name.startswith("_")]


def _rules(
    schema: TableSchema,
    *,
    allowed_values: dict[str, tuple[str, ...]] | None = None,
    currency_columns: tuple[str, ...] = (),
    patterns: dict[str, str] | None = None,
    non_negative: tuple[str, ...] = (),
    positive: tuple[str, ...] = (),
    ranges: dict[str, tuple[float, float]] | None = None,
    references: dict[str, str] | None = None,
    not_future: tuple[str, ...] | None = None,
) -> TableRules:
    """Derive keys, non-null columns and the time rules from the canonical schema."""
    not_null = [c.name for c in schema.columns if not c.nullable]
    for name in (*schema.key, *((schema.time_column,) if schema.time_column else ())):
        if name not in not_null:
            not_null.append(name)
    if not_future is None:
        if schema.time_column:
            not_future = (schema.time_column,)
        elif "created_at" in schema.column_names:
            not_future = ("created_at",)
        else:
            not_future = ()
    return TableRules(
        table=schema.name,
        schema=schema,
        not_null=tuple(not_null),
        key=schema.key,
        global_id=schema.key[0] if len(schema.key) == 1 else None,
        allowed_values=allowed_values or {},
        currency_columns=currency_columns,
        patterns=patterns or {},
        non_negative=non_negative,
        positive=positive,
        ranges=ranges or {},
        time_column=schema.time_column,
        not_future=not_future,
        references=references or {},
    )


CUSTOMER = {"customer_id": "customer_id"}
SUBSCRIPTION = {"subscription_id": "subscription_id"}
CONTACT = {"contact_id": "contact_id"}

SUITES: dict[str, TableRules] = {
    rules.table: rules
    for rules in (
        _rules(s.BILLING_CUSTOMERS, currency_columns=("currency",)),
        _rules(
            s.BILLING_PRICES,
            allowed_values={
                "interval": s.BILLING_INTERVALS,
                "price_type": ("recurring", "one_time"),
                "usage_type": ("licensed", "metered"),
            },
            currency_columns=("currency",),
            non_negative=("unit_amount",),
            positive=("interval_count",),
        ),
        _rules(
            s.BILLING_SUBSCRIPTIONS,
            allowed_values={"status": s.SUBSCRIPTION_STATUSES},
            references=CUSTOMER,
        ),
        _rules(
            s.BILLING_SUBSCRIPTION_ITEMS,
            non_negative=("quantity",),
            references={**SUBSCRIPTION, "price_id": "price_id"},
        ),
        _rules(
            s.BILLING_SUBSCRIPTION_STATUS_HISTORY,
            allowed_values={"status": s.SUBSCRIPTION_STATUSES},
            references=SUBSCRIPTION,
        ),
        _rules(s.BILLING_DISCOUNTS, ranges={"percent_off": (0.0, 100.0)}, references=SUBSCRIPTION),
        _rules(
            s.BILLING_INVOICES,
            allowed_values={"status": s.INVOICE_STATUSES},
            currency_columns=("currency",),
            # subtotal, tax and total are negative on a credit (a downgrade's proration); nothing is paid then.
            non_negative=("amount_paid",),
            references={**CUSTOMER, **SUBSCRIPTION},
        ),
        _rules(
            s.BILLING_INVOICE_LINES,
            allowed_values={"line_type": s.INVOICE_LINE_TYPES, "invoice_status": s.INVOICE_STATUSES,
                            "interval": s.BILLING_INTERVALS},
            currency_columns=("currency",),
            non_negative=("quantity",),  # amount and tax are negative on credit lines
            references={**CUSTOMER, **SUBSCRIPTION, "invoice_id": "invoice_id"},
            not_future=("invoice_created_at",),
        ),
        _rules(
            s.BILLING_PAYMENTS,
            allowed_values={"status": s.PAYMENT_STATUSES},
            currency_columns=("currency",),
            non_negative=("amount",),
            references={**CUSTOMER, "invoice_id": "invoice_id"},
        ),
        _rules(
            s.BILLING_REFUNDS,
            currency_columns=("currency",),
            non_negative=("amount",),
            references={**CUSTOMER, "payment_id": "payment_id"},
        ),
        _rules(
            s.BILLING_SUBSCRIPTION_PERIODS,
            currency_columns=("currency",),
            non_negative=("monthly_amount",),
            references=CUSTOMER,
            not_future=("start_date",),
        ),
        _rules(
            s.CRM_CONTACTS,
            allowed_values={"lifecycle_stage": s.LIFECYCLE_STAGES, "original_source": s.CHANNELS},
            references={"company_id": "company_id"},
        ),
        _rules(s.CRM_COMPANIES),
        _rules(s.CRM_CHURN_REASONS, references=CUSTOMER),
        _rules(
            s.CRM_DEALS,
            currency_columns=("currency",),
            non_negative=("amount",),
            references={"company_id": "company_id", **CONTACT},
        ),
        _rules(
            s.CRM_FORM_SUBMISSIONS,
            allowed_values={"form_type": s.FORM_TYPES, "channel": s.CHANNELS},
            references=CONTACT,
        ),
        _rules(
            s.CRM_TOUCHPOINTS,
            allowed_values={"touch_type": s.TOUCH_TYPES, "channel": s.CHANNELS},
            references=CONTACT,
        ),
        _rules(
            s.CRM_MEETINGS,
            allowed_values={"demo_type": s.DEMO_TYPES, "outcome": s.MEETING_OUTCOMES},
            references=CONTACT,
        ),
        _rules(s.WEB_SESSIONS, allowed_values={"channel": s.CHANNELS}),
        _rules(
            s.AD_SPEND,
            allowed_values={"platform": s.AD_PLATFORMS, "channel": s.CHANNELS},
            currency_columns=("currency",),
            non_negative=("spend", "impressions", "clicks", "platform_conversions"),
        ),
        _rules(
            s.FINANCE_EXPENSES,
            allowed_values={"department": s.EXPENSE_DEPARTMENTS},
            currency_columns=("currency",),
            non_negative=("amount",),
        ),
        _rules(s.FINANCE_CASH_BALANCES, currency_columns=("currency",)),
        # The FX table defines the known currencies, so its own currency column is
        # checked for shape (ISO 4217) rather than membership.
        _rules(s.FX_RATES, patterns={"currency": r"^[A-Z]{3}$"}, positive=("rate_to_usd",)),
        _rules(
            s.PRODUCT_ACCOUNTS,
            allowed_values={"signup_source": ("self_serve", "sales")},
            non_negative=("seats",),
        ),
        _rules(s.PRODUCT_USAGE, non_negative=("event_count",), references={"account_id": "account_id"}),
        _rules(
            s.SUPPORT_TICKETS,
            allowed_values={"priority": s.TICKET_PRIORITIES, "status": s.TICKET_STATUSES},
            references=CUSTOMER,
        ),
        _rules(s.NPS_RESPONSES, ranges={"score": (0.0, 10.0)}, references=CUSTOMER),
    )
}


def rules_for(table: str) -> TableRules:
    """The rule set of a canonical table; a clear error for an unknown one."""
    try:
        return SUITES[table]
    except KeyError:
        raise KeyError(f"no validation suite for table {table!r}; known: {sorted(SUITES)}") from None
