"""Downloaded CSV exports (saas_metrics.sources.exports): each format, fed as downloaded, gives the same
canonical tables as the equivalent files in today's layout (fixtures/exports/downloads vs .../today)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from saas_metrics.sources import export_formats, exports
from saas_metrics.sources.export_formats import FORMATS
from saas_metrics.sources.exports import ExportFormatError, identify, native_from_exports
from saas_metrics.sources.registry import input_files, read_source_table, source_files

# Fixture folders hold billing, CRM and ads only: the other systems' files are missing on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::saas_metrics.sources.files.SourceFileMissing")

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
DOWNLOADS, TODAY = FIXTURES / "downloads", FIXTURES / "today"

#: table -> the downloads that stand for its native file(s)
TABLES = {
    "billing_customers": "billing/unified_customers.csv",
    "billing_prices": "billing/prices.csv",
    "billing_subscriptions": "billing/subscriptions.csv",
    "billing_subscription_items": "billing/subscriptions.csv",
    "billing_subscription_status_history": "billing/subscriptions.csv",
    "billing_invoices": "billing/invoices.csv",
    "billing_payments": "billing/unified_payments.csv",
    "billing_refunds": "billing/refunds.csv",
    "crm_contacts": "crm/hubspot-crm-exports-all-contacts-2026-07-01.csv",
    "crm_companies": "crm/hubspot-crm-exports-all-companies-2026-07-01.csv",
    "crm_deals": "crm/hubspot-crm-exports-all-deals-2026-07-01.csv",
    "ad_spend": "ads/Campaign report.csv",
}


def _read(table: str, folder: Path) -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = read_source_table(table, folder)
    assert not [str(w.message) for w in caught], f"{table} from {folder.name}"
    return frame


@pytest.mark.parametrize("table", sorted(TABLES))
def test_each_download_gives_the_canonical_table_of_todays_files(table: str) -> None:
    downloaded, today = _read(table, DOWNLOADS), _read(table, TODAY)
    assert len(downloaded) > 0 or table == "billing_subscription_status_history"
    pd.testing.assert_frame_equal(downloaded.drop(columns=["_source_file", "_source_line"]),
                                  today.drop(columns=["_source_file", "_source_line"]))
    assert TABLES[table] in set(downloaded["_source_file"]) or downloaded.empty


@pytest.mark.parametrize("table", ["billing_customers", "billing_invoices", "crm_contacts", "ad_spend"])
def test_lineage_names_the_download_and_its_data_line(table: str) -> None:
    frame = _read(table, DOWNLOADS)
    first = frame.iloc[0]
    assert first["_source_file"] == TABLES[table] and first["_source_line"] == 1
    # Google Ads: two title lines before the header are not data, nor are the 'Total: ...' rows after them
    if table == "ad_spend":
        google = frame[frame["platform"] == "google_ads"]
        assert google["_source_line"].tolist() == [1, 2, 3]
        assert set(frame["_source_file"]) == {"ads/Campaign report.csv", "ads/Acme-Campaigns-Jun-1-2026-Jun-2-2026.csv",
                                              "ads/campaign_performance_report.csv"}


def test_every_format_has_a_fixture_download() -> None:
    found = {fmt.key for folder in exports.EXPORT_FOLDERS for _, fmt in exports.exports_in(DOWNLOADS, folder)}
    assert found == {f.key for f in FORMATS}


def test_todays_files_are_not_taken_for_downloads() -> None:
    for path in sorted(TODAY.rglob("*.csv")):
        assert identify(path)[0] is None, path


def test_sample_data_files_are_not_taken_for_downloads(tmp_path: Path) -> None:
    from saas_metrics.sample_data import generate

    generate(tmp_path, seed=3, customers=5, months=2, product_events=False)
    for folder in exports.EXPORT_FOLDERS:
        assert exports.exports_in(tmp_path, folder) == []
    assert len(list((tmp_path / "billing").glob("*.csv"))) >= 9


def test_hand_checked_values_of_the_stripe_downloads() -> None:
    prices = _read("billing_prices", DOWNLOADS).set_index("price_id")
    # '49.00' usd -> 49.0; '1,500.00' with thousands separator; the JPY plan (zero-decimal) from the subscription export
    assert prices.loc["price_growth_m_usd", "unit_amount"] == 49.0
    assert prices.loc["price_setup_usd", ["unit_amount", "price_type"]].tolist() == [1500.0, "one_time"]
    assert prices.loc["price_basic_m_jpy", ["unit_amount", "currency", "price_type", "interval"]].tolist() == [
        3000.0, "JPY", "recurring", "month"]
    assert prices.loc["price_basic_m_jpy", "_source_file"] == "billing/subscriptions.csv"
    items = _read("billing_subscription_items", DOWNLOADS).set_index("subscription_id")
    assert items.loc["sub_B1", ["price_id", "quantity"]].tolist() == ["price_growth_y_eur", 2.0]
    assert str(items.loc["sub_B1", "valid_from"]) == "2026-02-10 14:00:00" and str(items.loc["sub_B1", "valid_to"]) == "2026-05-20 08:15:00"
    assert items.loc["sub_A1", "item_version_id"] == "sub_A1:item@2026-01-05T09:30:00Z"
    invoices = _read("billing_invoices", DOWNLOADS).set_index("invoice_id")
    # the line items set the service period: 2026-06-05 .. 2026-07-05, not the invoice-level 2026-05-05 .. 2026-06-05
    assert [str(invoices.loc["in_A1_6", c]) for c in ("period_start", "period_end")] == ["2026-06-05 09:30:00", "2026-07-05 09:30:00"]
    # an invoice without line items keeps its own period
    assert [str(invoices.loc["in_C1_3", c]) for c in ("period_start", "period_end")] == ["2026-05-01 00:00:00", "2026-06-01 00:00:00"]
    assert invoices.loc["in_B1_1", ["tax", "total"]].tolist() == [186.2, 1166.2]
    payments = _read("billing_payments", DOWNLOADS).set_index("payment_id")
    assert payments["status"].tolist() == ["succeeded", "succeeded", "failed", "succeeded"]
    refunds = _read("billing_refunds", DOWNLOADS)
    assert refunds[["payment_id", "customer_id", "amount", "currency"]].values.tolist() == [["ch_2", "cus_B", 100.0, "EUR"]]


def test_hand_checked_values_of_the_hubspot_and_ads_downloads() -> None:
    contacts = _read("crm_contacts", DOWNLOADS).set_index("contact_id")
    assert contacts.loc["5100001", ["lifecycle_stage", "original_source", "company_id", "email"]].tolist() == [
        "customer", "linkedin_ads", "9100001", "carla@acme.io"]
    assert contacts.loc["5100003", ["lifecycle_stage", "original_source"]].tolist() == ["lead", "other"]
    deals = _read("crm_deals", DOWNLOADS).set_index("deal_id")
    assert deals.loc["40000002", ["stage", "amount", "contact_id"]].tolist() == ["decisionmakerboughtin", 1960.5, "5100002"]
    assert deals["is_closed_won"].tolist() == [True, False, False]
    spend = _read("ad_spend", DOWNLOADS)
    assert spend.groupby("platform")["spend"].sum().round(4).to_dict() == {
        "google_ads": 1231.0, "linkedin_ads": 12.47, "meta_ads": 18.53}
    meta = spend[spend["platform"] == "meta_ads"].iloc[0]
    assert (meta["currency"], meta["account_id"]) == ("EUR", "act_4455667788")  # currency from 'Amount spent (EUR)'
    assert spend[spend["platform"] == "linkedin_ads"]["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-06-01", "2026-06-02"]


def test_invoice_line_items_become_native_invoice_lines() -> None:
    lines = native_from_exports(DOWNLOADS, "billing/invoice_lines.csv")
    assert lines is not None
    frame = lines.frame.set_index("id")
    assert frame.loc["il_A1_6s", ["invoice", "amount", "type"]].tolist() == ["in_A1_6", "150000", "invoiceitem"]
    assert frame.loc["il_C1_4", ["amount", "currency"]].tolist() == ["3000", "jpy"]  # yen have no minor unit
    assert lines.source_lines == [1, 2, 3, 4, 5]


@pytest.fixture
def sources(tmp_path: Path) -> Callable[..., Path]:
    """Copy the named downloads (relative paths) into an empty sources folder."""

    def copy(*relatives: str) -> Path:
        for relative in relatives:
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(DOWNLOADS / relative, tmp_path / relative)
        return tmp_path

    return copy


def test_a_file_no_format_knows_fails_naming_the_closest_formats(sources: Callable[..., Path]) -> None:
    folder = sources("billing/unified_customers.csv")
    (folder / "billing" / "subs_edited.csv").write_text("id,Customer,Status,Created (UTC)\nsub_1,cus_1,active,2026-01-01 00:00\n")
    with pytest.raises(ExportFormatError) as raised:
        read_source_table("billing_customers", folder)
    message = str(raised.value)
    assert message.startswith("billing/subs_edited.csv: its header matches no known export or native format; closest:")
    # closest first: the invoices export has 4 of these columns (id, Customer, Status, Created (UTC)), others 3 or fewer
    assert "; closest: Stripe Dashboard invoices export (invoices.csv) (lacks ['Amount Due', 'Amount Paid']); " in message
    assert "Header read: ['id', 'Customer', 'Status', 'Created (UTC)']" in message
    # another system's tables are not affected
    assert read_source_table("crm_deals", folder).empty


def test_a_download_and_a_native_file_for_the_same_table_are_refused(sources: Callable[..., Path]) -> None:
    folder = sources("billing/unified_customers.csv")
    shutil.copy(TODAY / "billing" / "customers.csv", folder / "billing" / "customers.csv")
    with pytest.raises(ExportFormatError, match=r"billing/customers.csv: several files stand for it "
                                                r"\(billing/unified_customers.csv, billing/customers.csv \(today's layout\)\)"):
        read_source_table("billing_customers", folder)


def test_a_real_item_history_wins_over_the_one_built_from_the_subscriptions(sources: Callable[..., Path]) -> None:
    folder = sources("billing/subscriptions.csv")
    (folder / "billing" / "subscription_items.csv").write_text(
        "id,subscription,price,quantity,valid_from,valid_to\n"
        "si_1,sub_A1,price_growth_m_usd,4,2026-01-05T09:30:00Z,2026-03-01T00:00:00Z\n"
        "si_1,sub_A1,price_growth_m_usd,5,2026-03-01T00:00:00Z,\n")
    items = read_source_table("billing_subscription_items", folder)
    assert items["quantity"].tolist() == [4.0, 5.0] and set(items["_source_file"]) == {"billing/subscription_items.csv"}


def test_several_downloads_of_one_report_are_read_together(tmp_path: Path) -> None:
    header = "Day,Campaign,Campaign ID,Currency code,Cost,Impr.,Clicks,Conversions\n"
    (tmp_path / "ads").mkdir()
    (tmp_path / "ads" / "june.csv").write_text("Campaign report\nJune 2026\n" + header + "2026-06-30,Brand,1,USD,10.00,5,1,0\n")
    (tmp_path / "ads" / "july.csv").write_text(header + "2026-07-01,Brand,1,USD,\"2,000.25\",7,2,1\n2026-07-02,Brand,1,USD,1.5,1,0,0\n")
    spend = read_source_table("ad_spend", tmp_path)
    assert spend[["_source_file", "_source_line"]].values.tolist() == [["ads/july.csv", 1], ["ads/july.csv", 2], ["ads/june.csv", 1]]
    assert spend["spend"].tolist() == [2000.25, 1.5, 10.0]
    assert spend["campaign_id"].tolist() == ["1", "1", "1"]


def test_google_ads_csv_for_excel_utf16_tabs(tmp_path: Path) -> None:
    text = (DOWNLOADS / "ads" / "Campaign report.csv").read_text().splitlines()
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(text))))
    tsv = "\n".join("\t".join(r) for r in rows) + "\n"
    (tmp_path / "ads").mkdir()
    (tmp_path / "ads" / "Campaign report.csv").write_bytes(tsv.encode("utf-16"))
    utf16 = read_source_table("ad_spend", tmp_path)
    expected = read_source_table("ad_spend", TODAY)
    expected = expected[expected["platform"] == "google_ads"].reset_index(drop=True)
    pd.testing.assert_frame_equal(utf16.drop(columns=["_source_file", "_source_line"]),
                                  expected.drop(columns=["_source_file", "_source_line"]))


def test_bad_values_in_a_download_are_recorded_as_in_todays_files(tmp_path: Path) -> None:
    """A value that does not convert reaches the reader unchanged, so its parse error holds the original text."""
    download, today = tmp_path / "downloads", tmp_path / "today"
    (download / "billing").mkdir(parents=True)
    (today / "billing").mkdir(parents=True)
    (download / "billing" / "unified_payments.csv").write_text(
        "id,Created (UTC),Amount,Amount Refunded,Currency,Status,Customer ID,Invoice ID\n"
        "ch_1,not-a-date,\"12,3x\",0,usd,Paid,cus_1,in_1\n"
        "ch_2,2026-01-02 03:04,7.5,0,usd,Failed,cus_1,in_1,surplus\n")
    (today / "billing" / "charges.csv").write_text(
        "id,customer,invoice,amount,currency,status,created,amount_refunded\n"
        "ch_1,cus_1,in_1,\"12,3x\",usd,succeeded,not-a-date,0\n"
        "ch_2,cus_1,in_1,750,usd,failed,2026-01-02T03:04:00Z,0\n")
    downloaded, native = read_source_table("billing_payments", download), read_source_table("billing_payments", today)
    assert downloaded["_parse_errors"].iloc[0] == native["_parse_errors"].iloc[0] == '{"amount": "12,3x", "created_at": "not-a-date"}'
    assert downloaded["_parse_errors"].iloc[1].startswith('{"_line": "expected 8 fields, got 9: ch_2,')
    assert downloaded["amount"].iloc[1] == native["amount"].iloc[1] == 7.5


def test_a_download_lacking_a_required_column_fails_like_a_native_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "deals.csv").write_text('"Record ID","Deal Name","Deal Stage"\n"1","x","Closed Won"\n')
    with pytest.warns(UserWarning, match=r"lacks column\(s\) \['createdate'\]"), \
            caplog.at_level("WARNING", logger="saas_metrics.sources.exports"):
        deals = read_source_table("crm_deals", tmp_path)
    assert "crm/deals.csv: this HubSpot deals export lacks the 'Create Date' column(s)" in caplog.text
    assert deals[["deal_id", "stage", "is_closed_won"]].values.tolist() == [["1", "closedwon", True]]


@pytest.mark.parametrize(("convert", "values", "expected"), [
    (export_formats.minor_units("currency"), ["49.00", "1,204.50", "3000", "12,3x", None], ["4900", "120450", "3000", "12,3x", None]),
    (export_formats.micros, ["13.74", "1,204.50", "--"], ["13740000", "1204500000", None]),
    (export_formats.code, ["Marketing Qualified Lead", "Closed Won", "Decision Maker Bought-In"],
     ["marketingqualifiedlead", "closedwon", "decisionmakerboughtin"]),
    (export_formats.hubspot_source, ["Paid Social", "Offline Sources", "AI Referrals", "Direct Traffic", "Organic Social"],
     ["PAID_SOCIAL", "OFFLINE", "AI_REFERRALS", "DIRECT_TRAFFIC", "SOCIAL_MEDIA"]),
    (export_formats.us_date, ["6/1/2026", "12/31/2025", "Jun 5, 2026", "2026-06-01", "31/12/2025"],
     ["2026-06-01", "2025-12-31", "2026-06-05", "2026-06-01", "31/12/2025"]),
    (export_formats.first_id, ["9100001;9100009", "42", ""], ["9100001", "42", None]),
    (export_formats.payment_status, ["Paid", "Refunded", "Failed", "canceled"], ["succeeded", "succeeded", "failed", "canceled"]),
    (export_formats.meta_account, ["4455667788", "act_1"], ["act_4455667788", "act_1"]),
    (export_formats.status, ["Past Due", "past_due", "Active", "incomplete_expired"], ["past_due", "past_due", "active", "incomplete_expired"]),
])
def test_conversions(convert: export_formats.Converter, values: list, expected: list) -> None:
    currency = ["usd", "usd", "jpy", "usd", "usd"][: len(values)]
    frame = pd.DataFrame({"currency": currency})
    converted = convert(pd.Series(values, dtype=object), frame)
    assert [None if pd.isna(v) else v for v in converted] == expected  # null is null, whatever its spelling


def test_sensors_and_the_landing_cache_see_the_downloads() -> None:
    listed = {p.relative_to(DOWNLOADS).as_posix() for paths in source_files(DOWNLOADS).values() for p in paths}
    assert {"billing/unified_customers.csv", "crm/hubspot-crm-exports-all-deals-2026-07-01.csv",
            "ads/campaign_performance_report.csv"} <= listed
    assert "billing/subscriptions.csv" in input_files("billing_subscription_items", DOWNLOADS)
    assert input_files("fx_rates", DOWNLOADS) == ["fx/rates.csv"]


def test_a_download_that_is_not_text_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "deals.csv").write_bytes(b'"Record ID","Deal Name","Deal Stage","Create Date"\n"1","M\xfcller","Closed Won",""\n')
    # 0-based offset of the Latin-1 'ü': a 51-byte header line with its newline, then '"1","M' (6 bytes)
    with pytest.raises(ExportFormatError, match=r"crm/deals.csv: not UTF-8 or UTF-16 text \(byte 57: invalid start byte\)"):
        read_source_table("crm_deals", tmp_path)


def test_subscriptions_split_over_two_downloads_give_every_item_and_each_plan_once(tmp_path: Path) -> None:
    header, *rows = (DOWNLOADS / "billing" / "subscriptions.csv").read_text().splitlines(keepends=True)
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "subscriptions_active.csv").write_text(header + rows[0] + rows[2])  # sub_A1, sub_C1
    (tmp_path / "billing" / "subscriptions_other.csv").write_text(header + rows[1] + rows[3])  # sub_B1, sub_D1
    items = _read("billing_subscription_items", tmp_path)  # no 'lacks column(s)' warning: all built columns are there
    assert items[["subscription_id", "_source_file", "_source_line"]].values.tolist() == [
        ["sub_A1", "billing/subscriptions_active.csv", 1], ["sub_C1", "billing/subscriptions_active.csv", 2],
        ["sub_B1", "billing/subscriptions_other.csv", 1], ["sub_D1", "billing/subscriptions_other.csv", 2]]
    prices = _read("billing_prices", tmp_path)
    # sub_D1's plan (price_growth_m_usd) is sub_A1's: one price row, from the first file that names it
    assert prices[["price_id", "_source_file"]].values.tolist() == [
        ["price_growth_m_usd", "billing/subscriptions_active.csv"], ["price_basic_m_jpy", "billing/subscriptions_active.csv"],
        ["price_growth_y_eur", "billing/subscriptions_other.csv"]]
    assert read_source_table("billing_subscriptions", tmp_path)["subscription_id"].tolist() == ["sub_A1", "sub_C1", "sub_B1", "sub_D1"]


def test_a_subscription_without_a_plan_gets_no_item_and_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    header, *rows = (DOWNLOADS / "billing" / "subscriptions.csv").read_text().splitlines(keepends=True)
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "subscriptions.csv").write_text(header + rows[0] + rows[1].replace("price_growth_y_eur", ""))
    with caplog.at_level("WARNING", logger="saas_metrics.sources.exports"):
        items = read_source_table("billing_subscription_items", tmp_path)
    assert items["subscription_id"].tolist() == ["sub_A1"]
    assert "billing/subscriptions.csv: 1 subscription(s) name no plan (several prices?)" in caplog.text


@pytest.mark.parametrize(("relative", "old_id", "table", "key"), [
    ("crm/hubspot-crm-exports-all-contacts-2026-07-01.csv", "Contact ID", "crm_contacts", "contact_id"),
    ("crm/hubspot-crm-exports-all-companies-2026-07-01.csv", "Company ID", "crm_companies", "company_id"),
    ("crm/hubspot-crm-exports-all-deals-2026-07-01.csv", "Deal ID", "crm_deals", "deal_id"),
])
def test_older_hubspot_exports_name_the_id_by_object(tmp_path: Path, relative: str, old_id: str, table: str, key: str) -> None:
    (tmp_path / "crm").mkdir()
    (tmp_path / relative).write_text((DOWNLOADS / relative).read_text().replace('"Record ID"', f'"{old_id}"', 1))
    expected = _read(table, DOWNLOADS)
    older = _read(table, tmp_path)
    pd.testing.assert_frame_equal(older, expected)
    assert older[key].iloc[0] in {"5100001", "9100001", "40000001"}


def test_a_meta_report_without_a_daily_breakdown_is_placed_on_its_first_day_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "ads").mkdir()
    (tmp_path / "ads" / "meta.csv").write_text("Reporting starts,Reporting ends,Campaign name,Amount spent (GBP)\n"
                                               "2026-06-01,2026-06-30,Prospecting,300.00\n"
                                               "2026-06-01,2026-06-01,Retargeting,10.00\n")
    with caplog.at_level("WARNING", logger="saas_metrics.sources.exports"):
        spend = read_source_table("ad_spend", tmp_path)
    assert spend[["campaign_id", "currency", "spend"]].values.tolist() == [["Prospecting", "GBP", 300.0], ["Retargeting", "GBP", 10.0]]
    assert spend["date"].dt.strftime("%Y-%m-%d").tolist() == ["2026-06-01", "2026-06-01"]
    assert "ads/meta.csv: 1 row(s) cover several days and are placed on their first day" in caplog.text


@pytest.mark.parametrize(("payments", "customer_column", "expected"), [
    ("billing/unified_payments.csv", False, "cus_B"),  # from the payments download
    (None, True, "cus_X"),  # the refund's own Customer ID
    (None, False, "cus_B"),  # from billing/charges.csv in today's layout, as for a native refunds file
])
def test_a_refund_finds_its_customer(tmp_path: Path, payments: str | None, customer_column: bool, expected: str) -> None:
    (tmp_path / "billing").mkdir()
    header, row = "id,Charge ID,Amount,Currency,Created (UTC)", "re_1,ch_2,100.00,eur,2026-03-02 10:00"
    if customer_column:
        header, row = header + ",Customer ID", row + ",cus_X"
    (tmp_path / "billing" / "refunds.csv").write_text(f"{header}\n{row}\n")
    if payments:
        shutil.copy(DOWNLOADS / payments, tmp_path / payments)
    else:
        shutil.copy(TODAY / "billing" / "charges.csv", tmp_path / "billing" / "charges.csv")
    refunds = read_source_table("billing_refunds", tmp_path)
    assert refunds[["refund_id", "customer_id", "amount"]].values.tolist() == [["re_1", expected, 100.0]]


def test_a_prices_download_without_product_names_names_plans_by_description(tmp_path: Path) -> None:
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "prices.csv").write_text("Price ID,Product ID,Description,Amount,Currency,Interval\n"
                                                     "price_1,prod_1,Growth monthly,49.00,usd,month\n")
    prices = _read("billing_prices", tmp_path)
    assert prices[["price_id", "plan_name", "unit_amount", "price_type"]].values.tolist() == [
        ["price_1", "Growth monthly", 49.0, "recurring"]]
