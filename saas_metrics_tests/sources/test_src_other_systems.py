"""Finance, FX, product and support exports -> canonical tables."""

from __future__ import annotations

import json

import pandas as pd

from saas_metrics.sources import finance, fx, product, support

T = pd.Timestamp


def test_expenses(write) -> None:
    d = write("finance/expenses.csv", """
line_id,posting_date,account_code,account_name,department,category,description,amount,currency
JE-1,2025-01-25,6200,Salaries - Marketing,Marketing,Salaries,Jan,35000.10,usd
""")
    out = finance.read_expenses(d)
    assert out[["expense_id", "gl_account", "department", "category", "amount", "currency"]].iloc[0].tolist() == [
        "JE-1", "6200 Salaries - Marketing", "marketing", "salaries", 35000.1, "USD"]
    assert out["date"].iloc[0] == T("2025-01-25")


def test_fx_rates(write) -> None:
    d = write("fx/rates.csv", "date,currency,rate_to_usd\n2025-01-31,eur,1.0832\n2025-01-31,USD,1\n")
    out = fx.read_rates(d)
    assert out["currency"].tolist() == ["EUR", "USD"] and out["rate_to_usd"].tolist() == [1.0832, 1.0]


def test_product_accounts_and_usage(write) -> None:
    write("product/accounts.csv", """
account_id,created_at,signup_source,email_domain,billing_customer_id,crm_contact_id,trial_started_at,seats
acc_1,2025-01-01T10:00:00Z,self_serve,Acme.com,,51,2025-01-01T10:00:00Z,5
""")
    d = write("product/usage_daily.csv", "date,account_id,user_id,event,count\n2025-01-02,acc_1,u_1,login,3\n2025-01-02,acc_1,u_1,report_created,1.5\n")
    accounts = product.read_accounts(d)
    assert accounts[["email_domain", "seats"]].iloc[0].tolist() == ["acme.com", 5]
    assert pd.isna(accounts["billing_customer_id"].iloc[0])
    usage = product.read_usage(d)
    assert usage["event_name"].tolist() == ["login", "report_created"]
    assert usage["event_count"].iloc[0] == 3 and pd.isna(usage["event_count"].iloc[1])
    assert json.loads(usage["_parse_errors"].iloc[1]) == {"event_count": "1.5"}


def test_tickets_first_response_from_reply_minutes(write) -> None:
    d = write("support/tickets.csv", """
id,created_at,updated_at,subject,priority,status,via_channel,organization_external_id,reply_time_in_minutes,solved_at
10001,2025-01-04T03:00:00Z,,SSO,Urgent,solved,email,cus_1,90,2025-01-05T00:00:00Z
10002,2025-01-04T04:00:00Z,,SSO,low,new,web,cus_2,,
""")
    out = support.read_tickets(d)
    assert out["first_response_at"].iloc[0] == T("2025-01-04 04:30") and pd.isna(out["first_response_at"].iloc[1])
    assert out["priority"].tolist() == ["urgent", "low"]
    assert out["customer_id"].tolist() == ["cus_1", "cus_2"]
    assert out["solved_at"].iloc[0] == T("2025-01-05")


def test_nps(write) -> None:
    d = write("support/nps_responses.csv", """
id,person_id,email,score,comment,created_at,properties_stripe_customer_id
700001,p_1,a@acme.com,9,Love it,1735689600,cus_1
700002,p_2,b@beta.io,11,,1735689600,cus_2
""")
    out = support.read_nps(d)
    assert out["score"].tolist() == [9, 11]  # out-of-range scores are left for validation
    assert out["customer_id"].tolist() == ["cus_1", "cus_2"]
    assert out["submitted_at"].iloc[0] == T("2025-01-01")
