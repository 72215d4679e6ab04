"""Stripe-like billing exports -> canonical tables, on tiny hand-written files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from saas_metrics.sources import billing

T = pd.Timestamp


def test_customers(write) -> None:
    d = write("billing/customers.csv", """
id,email,name,created,currency,address_country,metadata_crm_company_id,metadata_referred_by
cus_1,a@acme.com,Acme,1735689600,eur,de,9100001,
cus_2,b@beta.io,Beta,2025-01-02T10:00:00Z,usd,US,,cus_1
""")
    out = billing.read_customers(d)
    assert out["customer_id"].tolist() == ["cus_1", "cus_2"]
    assert out["currency"].tolist() == ["EUR", "USD"]
    assert out["country"].tolist() == ["DE", "US"]
    assert out["created_at"].tolist() == [T("2025-01-01"), T("2025-01-02 10:00")]
    assert out["crm_company_id"].iloc[0] == "9100001" and pd.isna(out["crm_company_id"].iloc[1])
    assert out["referred_by_customer_id"].iloc[1] == "cus_1"


def test_prices_cents_to_major_units(write) -> None:
    d = write("billing/prices.csv", """
id,product,product_name,nickname,metadata_tier,unit_amount,currency,type,recurring_interval,recurring_interval_count,recurring_usage_type
price_a,prod_g,Growth plan,Growth y1,growth,54000,usd,recurring,year,1,licensed
price_b,prod_s,Setup,Setup fee,,49900,gbp,one_time,,,
price_c,prod_j,Growth JP,,growth,5000,jpy,recurring,month,3,licensed
""")
    out = billing.read_prices(d)
    assert out["unit_amount"].tolist() == [540.0, 499.0, 5000.0]  # JPY is zero-decimal
    assert out["currency"].tolist() == ["USD", "GBP", "JPY"]
    assert out["price_type"].tolist() == ["recurring", "one_time", "recurring"]
    assert out["interval_count"].iloc[2] == 3 and pd.isna(out["interval_count"].iloc[1])
    assert out["plan_name"].iloc[0] == "Growth plan" and out["plan_tier"].iloc[0] == "growth"


def test_subscriptions_items_status_and_discounts(write) -> None:
    write("billing/subscriptions.csv", """
id,customer,status,created,start_date,trial_start,trial_end,cancel_at_period_end,cancel_at,canceled_at,ended_at
sub_1,cus_1,canceled,1735689600,1735689600,,,true,,1736899200,1738368000
""")
    write("billing/subscription_items.csv", """
id,subscription,price,quantity,valid_from,valid_to
si_1,sub_1,price_a,3,2025-01-01T00:00:00Z,2025-01-15T12:00:00Z
si_1,sub_1,price_a,5,2025-01-15T12:00:00Z,
""")
    write("billing/subscription_status_history.csv", """
subscription,status,valid_from,valid_to
sub_1,active,2025-01-01T00:00:00Z,2025-02-01T00:00:00Z
sub_1,canceled,2025-02-01T00:00:00Z,
""")
    d = write("billing/discounts.csv", """
id,subscription,coupon_id,coupon_percent_off,coupon_duration,coupon_duration_in_months,start,end
di_1,sub_1,c20,20.0,repeating,3,1735689600,1743465600
""")
    subs = billing.read_subscriptions(d)
    assert subs["cancel_at_period_end"].tolist() == [True]
    assert subs["canceled_at"].iloc[0] == T("2025-01-15") and subs["ended_at"].iloc[0] == T("2025-02-01")
    items = billing.read_subscription_items(d)
    assert items["item_version_id"].tolist() == ["si_1@2025-01-01T00:00:00Z", "si_1@2025-01-15T12:00:00Z"]
    assert items["quantity"].tolist() == [3.0, 5.0]
    assert items["valid_to"].iloc[0] == T("2025-01-15 12:00") and pd.isna(items["valid_to"].iloc[1])
    status = billing.read_subscription_status_history(d)
    assert status["status"].tolist() == ["active", "canceled"]
    discounts = billing.read_discounts(d)
    assert discounts["percent_off"].tolist() == [20.0]
    assert discounts["end_at"].tolist() == [T("2025-04-01")]


def test_invoices_payments_refunds(write) -> None:
    write("billing/invoices.csv", """
id,customer,subscription,status,billing_reason,created,due_date,status_transitions_paid_at,period_start,period_end,currency,subtotal,tax,total,amount_paid,amount_due
in_1,cus_1,sub_1,paid,subscription_create,1735689600,,1735693200,1735689600,1738368000,eur,10000,1900,11900,11900,0
in_2,cus_1,sub_1,open,subscription_cycle,1738368000,,,1738368000,1740787200,XYZ,12,3x,-500,0,-500
""")
    write("billing/charges.csv", """
id,customer,invoice,amount,currency,status,created,failure_code,refunded,amount_refunded
ch_1,cus_1,in_1,11900,eur,succeeded,1735693200,,false,5000
""")
    d = write("billing/refunds.csv", """
id,charge,amount,currency,status,created,reason
re_1,ch_1,5000,eur,succeeded,1736000000,requested_by_customer
""")
    invoices = billing.read_invoices(d)
    assert invoices["subtotal"].iloc[0] == 100.0 and invoices["tax"].iloc[0] == 19.0 and invoices["total"].iloc[0] == 119.0
    assert invoices["paid_at"].iloc[0] == T("2025-01-01 01:00")
    # Line 2: unknown currency and a negative total stay for validation; '3x' is not a number.
    assert invoices["currency"].iloc[1] == "XYZ"
    assert invoices["total"].iloc[1] == -5.0 and invoices["subtotal"].iloc[1] == 0.12
    assert json.loads(invoices["_parse_errors"].iloc[1]) == {"tax": "3x"}
    payments = billing.read_payments(d)
    assert payments[["payment_id", "amount", "currency", "status"]].iloc[0].tolist() == ["ch_1", 119.0, "EUR", "succeeded"]
    refunds = billing.read_refunds(d)
    assert refunds[["refund_id", "payment_id", "customer_id", "amount"]].iloc[0].tolist() == ["re_1", "ch_1", "cus_1", 50.0]


def test_negative_and_non_numeric_amounts(write) -> None:
    d = write("billing/charges.csv", """
id,customer,invoice,amount,currency,status,created
ch_1,cus_1,in_1,-2500,usd,succeeded,1735693200
ch_2,cus_1,in_2,"12,3x",usd,succeeded,1735693200
""")
    out = billing.read_payments(d)
    assert out["amount"].iloc[0] == -25.0  # kept: validation, not the reader, rejects it
    assert pd.isna(out["amount"].iloc[1])
    assert json.loads(out["_parse_errors"].iloc[1]) == {"amount": "12,3x"}


def test_subscription_periods_import(write) -> None:
    d = write("billing/subscription_periods.csv", """
subscription_id,customer_id,start_date,end_date,monthly_amount,plan_id
s1,c1,2024-01-01,2024-07-01,100.50,basic
s1,c1,2024-07-01,,120,basic
""")
    out = billing.read_subscription_periods(d)
    assert out["start_date"].tolist() == [T("2024-01-01"), T("2024-07-01")]
    assert out["end_date"].iloc[0] == T("2024-07-01") and pd.isna(out["end_date"].iloc[1])
    assert out["monthly_amount"].tolist() == pytest.approx([100.5, 120.0])
    assert out["currency"].isna().all()  # absent: the revenue code uses the reporting currency


def test_invoice_lines_with_their_invoices(write) -> None:
    write("billing/invoices.csv", """
id,customer,subscription,status,billing_reason,created,due_date,status_transitions_paid_at,period_start,period_end,currency,subtotal,tax,total,amount_paid,amount_due
in_1,cus_1,sub_1,paid,subscription_update,1735689600,,1735693200,1735689600,1738368000,eur,4000,760,4760,4760,0
in_2,cus_2,sub_2,open,subscription_cycle,1738368000,1738368000,,1738368000,1740787200,jpy,3000,0,3000,0,3000
""")
    d = write("billing/invoice_lines.csv", """
id,invoice,subscription,subscription_item,type,proration,price,price_recurring_interval,price_recurring_interval_count,price_recurring_usage_type,quantity,amount,discount_amounts,discounts,tax_amounts,currency,period_start,period_end
il_1,in_1,sub_1,si_1,subscription,true,price_a,month,1,licensed,2,-5000,-1000,di_1,-190,eur,1735689600,1738368000
il_2,in_1,sub_1,si_1,subscription,true,price_b,month,1,licensed,2,11000,2000,di_1,950,eur,1735689600,1738368000
il_3,in_2,sub_2,si_2,subscription,false,price_api,month,1,metered,,3000,0,,0,jpy,1735689600,1738368000
il_4,in_9,,,invoiceitem,false,price_setup,,,,1,499,0,,0,eur,1735689600,1735689600
""")
    out = billing.read_invoice_lines(d)
    assert out["line_id"].tolist() == ["il_1", "il_2", "il_3", "il_4"]
    # cents -> major units (JPY has no minor unit); credits keep their sign
    assert out["amount"].tolist() == [-50.0, 110.0, 3000.0, 4.99]
    assert out["discount_amount"].tolist()[:2] == [-10.0, 20.0] and out["tax"].tolist()[:2] == [-1.9, 9.5]
    assert out["discount_ids"].iloc[0] == "di_1" and out["proration"].tolist() == [True, True, False, False]
    # a metered subscription line is `metered`; a one-off invoice item stays `invoiceitem`
    assert out["line_type"].tolist() == ["subscription", "subscription", "metered", "invoiceitem"]
    assert out["interval"].iloc[0] == "month" and out["interval_count"].iloc[0] == 1
    assert out["period_start"].iloc[0] == T("2025-01-01") and out["period_end"].iloc[0] == T("2025-02-01")
    # customer, status and dates come from invoices.csv; an unknown invoice leaves them null
    assert out["customer_id"].tolist()[:3] == ["cus_1", "cus_1", "cus_2"] and pd.isna(out["customer_id"].iloc[3])
    assert out["invoice_status"].tolist()[:3] == ["paid", "paid", "open"]
    assert out["invoice_paid_at"].iloc[0] == T("2025-01-01 01:00") and pd.isna(out["invoice_paid_at"].iloc[2])
    assert out["invoice_due_at"].iloc[2] == T("2025-02-01")


def test_invoice_lines_file_is_optional(tmp_path, recwarn) -> None:
    assert billing.read_invoice_lines(tmp_path).empty
    assert not [w for w in recwarn if "invoice_lines" in str(w.message)]
