"""Loads a sample-data sources folder into a database in the Fivetran layout of Stripe and HubSpot
(history mode for subscriptions and items, property_<name> columns, association tables)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59)


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)


def _ts(series: pd.Series) -> pd.Series:
    """Unix seconds / ms or ISO text -> naive UTC timestamps."""
    def one(v: object) -> object:
        if v is None:
            return pd.NaT
        text = str(v)
        if text.isdigit():
            number = int(text)
            return pd.Timestamp(number, unit="ms" if number > 10**11 else "s")
        return pd.Timestamp(text).tz_convert(None)
    return pd.Series([one(v) for v in series], index=series.index, dtype="datetime64[ns]")


def _int(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series).astype("Int64")


def _far_future(series: pd.Series) -> pd.Series:
    """Fivetran's end of an active history row (beyond pandas' datetime range: python datetimes)."""
    return pd.Series([FAR_FUTURE if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in series], index=series.index, dtype=object)


def _write(engine: sa.Engine, schema: str, name: str, frame: pd.DataFrame) -> None:
    frame = frame.assign(_fivetran_synced=pd.Timestamp("2025-07-01 02:00:00"))
    if "_fivetran_deleted" not in frame.columns:
        frame["_fivetran_deleted"] = False
    types = {"_fivetran_end": sa.DateTime()} if "_fivetran_end" in frame.columns else None
    frame.to_sql(name, engine, schema=schema, index=False, dtype=types)


def load_stripe(engine: sa.Engine, sources: Path, schema: str = "stripe") -> None:
    billing = sources / "billing"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    c = _csv(billing / "customers.csv")
    metadata = [json.dumps({k: v for k, v in (("crm_company_id", a), ("referred_by", b)) if v})
                for a, b in zip(c["metadata_crm_company_id"], c["metadata_referred_by"], strict=True)]
    _write(engine, schema, "customer", pd.DataFrame({"id": c["id"], "email": c["email"], "name": c["name"],
                                                     "created": _ts(c["created"]), "currency": c["currency"],
                                                     "address_country": c["address_country"], "metadata": metadata}))
    p = _csv(billing / "prices.csv")
    _write(engine, schema, "product", p[["product", "product_name"]].drop_duplicates().rename(columns={"product": "id", "product_name": "name"}))
    _write(engine, schema, "price", pd.DataFrame({
        "id": p["id"], "product_id": p["product"], "nickname": p["nickname"], "unit_amount": _int(p["unit_amount"]),
        "currency": p["currency"], "type": p["type"], "recurring_interval": p["recurring_interval"],
        "recurring_interval_count": _int(p["recurring_interval_count"]), "recurring_usage_type": p["recurring_usage_type"],
        "billing_scheme": p["billing_scheme"], "active": p["active"] == "true", "created": _ts(p["created"]),
        "metadata": [json.dumps({"tier": t} if t else {}) for t in p["metadata_tier"]]}))
    s = _csv(billing / "subscriptions.csv")
    h = _csv(billing / "subscription_status_history.csv")
    subs = pd.DataFrame({"id": s["id"], "customer_id": s["customer"], "cancel_at_period_end": s["cancel_at_period_end"] == "true",
                         "collection_method": s["collection_method"],
                         **{f"cancellation_details_{k}": s[f"cancellation_details_{k}"] for k in ("reason", "feedback", "comment")},
                         **{k: _ts(s[k]) for k in ("created", "start_date", "trial_start", "trial_end", "cancel_at", "canceled_at",
                                                    "ended_at", "current_period_start", "current_period_end")}})
    runs = pd.DataFrame({"id": h["subscription"], "status": h["status"], "_fivetran_start": _ts(h["valid_from"]),
                         "_fivetran_end": _ts(h["valid_to"])})
    runs["_fivetran_active"] = runs["_fivetran_end"].isna()
    runs["_fivetran_end"] = _far_future(runs["_fivetran_end"])
    _write(engine, schema, "subscription_history", runs.merge(subs, on="id", how="left"))
    i = _csv(billing / "subscription_items.csv")
    items = pd.DataFrame({"id": i["id"], "subscription_id": i["subscription"], "plan_id": i["price"], "quantity": _int(i["quantity"]),
                          "created": _ts(i["valid_from"]), "_fivetran_start": _ts(i["valid_from"]), "_fivetran_end": _ts(i["valid_to"])})
    # a metadata-only change of the first item: the replica has two rows, the item one version
    first = items.iloc[0]
    middle = first["_fivetran_start"] + pd.Timedelta(days=3)
    items.loc[0, "_fivetran_end"] = middle
    split = first.to_frame().T.assign(_fivetran_start=middle, _fivetran_end=first["_fivetran_end"])
    items = pd.concat([items, split], ignore_index=True)
    items["_fivetran_active"] = items["_fivetran_end"].isna()
    items["_fivetran_end"] = _far_future(items["_fivetran_end"])
    items["quantity"] = items["quantity"].astype("Int64")
    _write(engine, schema, "subscription_item", items)
    d = _csv(billing / "discounts.csv")
    _write(engine, schema, "discount", pd.DataFrame({"id": d["id"], "subscription_id": d["subscription"], "coupon_id": d["coupon_id"],
                                                     "start": _ts(d["start"]), "end": _ts(d["end"])}))
    _write(engine, schema, "coupon", pd.DataFrame({"id": d["coupon_id"], "percent_off": pd.to_numeric(d["coupon_percent_off"]),
                                                   "duration": d["coupon_duration"],
                                                   "duration_in_months": _int(d["coupon_duration_in_months"])}).drop_duplicates("id"))
    v = _csv(billing / "invoices.csv")
    _write(engine, schema, "invoice", pd.DataFrame({
        "id": v["id"], "customer_id": v["customer"], "subscription_id": v["subscription"], "status": v["status"],
        "billing_reason": v["billing_reason"], "created": _ts(v["created"]), "due_date": _ts(v["due_date"]),
        "status_transitions_paid_at": _ts(v["status_transitions_paid_at"]), "period_start": _ts(v["created"]),
        "period_end": _ts(v["created"]), "currency": v["currency"],
        **{k: _int(v[k]) for k in ("subtotal", "tax", "total", "amount_paid", "amount_due")}}))
    if (billing / "invoice_lines.csv").is_file():
        il = _csv(billing / "invoice_lines.csv")
        _write(engine, schema, "invoice_line_item", pd.DataFrame({
            "id": il["id"], "invoice_id": il["invoice"], "subscription_id": il["subscription"],
            "subscription_item_id": il["subscription_item"], "type": il["type"], "proration": il["proration"] == "true",
            "price_id": il["price"], "quantity": _int(il["quantity"]).astype("Int64"), "amount": _int(il["amount"]),
            "currency": il["currency"], "period_start": _ts(il["period_start"]), "period_end": _ts(il["period_end"])}))
    else:
        lines = v[v["period_start"].notna()]
        _write(engine, schema, "invoice_line_item", pd.DataFrame({"id": "il_" + lines["id"], "invoice_id": lines["id"],
                                                                  "period_start": _ts(lines["period_start"]), "period_end": _ts(lines["period_end"])}))
    ch = _csv(billing / "charges.csv")
    _write(engine, schema, "charge", pd.DataFrame({
        "id": ch["id"], "customer_id": ch["customer"], "invoice_id": ch["invoice"], "amount": _int(ch["amount"]),
        "currency": ch["currency"], "status": ch["status"], "created": _ts(ch["created"]), "failure_code": ch["failure_code"],
        "refunded": ch["refunded"] == "true", "amount_refunded": _int(ch["amount_refunded"])}))
    r = _csv(billing / "refunds.csv")
    refunds = pd.DataFrame({"id": r["id"], "charge_id": r["charge"], "amount": _int(r["amount"]), "currency": r["currency"],
                            "status": r["status"], "created": _ts(r["created"]), "reason": r["reason"], "_fivetran_deleted": False})
    deleted = refunds.iloc[[0]].assign(id="re_deleted_in_source", _fivetran_deleted=True)
    _write(engine, schema, "refund", pd.concat([refunds, deleted], ignore_index=True))


def _properties(frame: pd.DataFrame, id_column: str, out_id: str, timestamps: set[str], skip: tuple[str, ...] = ()) -> pd.DataFrame:
    out = pd.DataFrame({out_id: _int(frame[id_column])})
    for column in frame.columns:
        if column in (id_column, *skip):
            continue
        out[f"property_{column}"] = _ts(frame[column]) if column in timestamps else frame[column]
    return out


def load_hubspot(engine: sa.Engine, sources: Path, schema: str = "hubspot") -> None:
    crm = sources / "crm"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    dates = {"createdate", "closedate", "hs_createdate", "hs_meeting_start_time"} | {
        f"hs_lifecyclestage_{s}_date" for s in ("lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")}
    contacts = _properties(_csv(crm / "contacts.csv"), "hs_object_id", "id", dates)
    # one contact's customer date only in the property history (the fallback)
    has_customer = contacts.index[contacts["property_hs_lifecyclestage_customer_date"].notna()][0]
    history = pd.DataFrame({"contact_id": [contacts.loc[has_customer, "id"]], "name": ["lifecyclestage"], "value": ["customer"],
                            "timestamp": [contacts.loc[has_customer, "property_hs_lifecyclestage_customer_date"]], "source": ["CRM_UI"]})
    contacts.loc[has_customer, "property_hs_lifecyclestage_customer_date"] = pd.NaT
    _write(engine, schema, "contact", contacts)
    _write(engine, schema, "contact_property_history", history)
    _write(engine, schema, "company", _properties(_csv(crm / "companies.csv"), "hs_object_id", "id", dates))
    deals = _csv(crm / "deals.csv")
    _write(engine, schema, "deal", _properties(deals, "hs_object_id", "deal_id", dates,
                                               skip=("associated_company_id", "associated_contact_id")))
    _write(engine, schema, "deal_company", pd.DataFrame({"deal_id": _int(deals["hs_object_id"]), "company_id": _int(deals["associated_company_id"]),
                                                         "type_id": 5}).dropna())
    _write(engine, schema, "deal_contact", pd.DataFrame({"deal_id": _int(deals["hs_object_id"]), "contact_id": _int(deals["associated_contact_id"]),
                                                         "type_id": 3}).dropna())
    f = _csv(crm / "form_submissions.csv")
    _write(engine, schema, "contact_form_submission", pd.DataFrame({
        "contact_id": _int(f["contact_id"]), "conversion_id": f["conversion_id"], "form_id": f["form_id"], "title": f["form_title"],
        "timestamp": _ts(f["submitted_at"]), "page_url": f["page_url"], "portal_id": 62515}))
    m = _csv(crm / "meetings.csv")
    _write(engine, schema, "engagement_meeting", _properties(m, "hs_object_id", "engagement_id", dates, skip=("contact_id",)))
    _write(engine, schema, "engagement_contact", pd.DataFrame({"engagement_id": _int(m["hs_object_id"]), "contact_id": _int(m["contact_id"])}).dropna())
