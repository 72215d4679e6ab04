"""Golden tests of the invoice revenue engine: hand-built invoice lines and current subscription state,
hand-computed MRR at each month-end (saas_metrics/metrics/invoice_revenue.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from saas_metrics.config import RevenuePolicy
from saas_metrics.metrics import revenue_reconciliation
from saas_metrics.metrics.invoice_revenue import (
    UnpricedLinesWarning,
    _explained_by_known,
    _known_discounts,
    build_intervals_by_engine,
    choose_engines,
    invoice_intervals,
    reconcilable_intervals,
)
from saas_metrics.metrics.mrr import customer_mrr_snapshots
from saas_metrics.metrics.revenue_reconciliation import month_ends, reconcile_engines
from saas_metrics.sources import schemas as src
from saas_metrics.tables import coerce_frame

T = pd.Timestamp
MONTHS = [T(f"2025-{m:02d}-01") for m in range(1, 7)]
PRICES = coerce_frame(pd.DataFrame([
    # price, unit amount, currency, interval, count
    ("p_m", 100.0, "USD", "month", 1), ("p_m2", 200.0, "USD", "month", 1), ("p_q", 270.0, "USD", "month", 3),
    ("p_y", 1200.0, "USD", "year", 1), ("p_eur", 50.0, "EUR", "month", 1),
], columns=["price_id", "unit_amount", "currency", "interval", "interval_count"]).assign(
    price_type="recurring", usage_type="licensed"), src.BILLING_PRICES)
FX = pd.DataFrame({"date": [T("2024-12-01"), T("2025-02-01")], "currency": ["EUR", "EUR"], "rate_to_usd": [1.10, 1.05]})


def line(sub: str, price: str, qty: float, amount: float, start: str, end: str, *, invoice: str | None = None,
         item: str | None = None, status: str = "paid", proration: bool = False, line_type: str = "subscription",
         discount: float = 0.0, discount_ids: str | None = None, due: str | None = None, paid: bool = True,
         currency: str = "USD") -> dict:
    global _LINE_NO
    _LINE_NO += 1
    return {"line_id": f"il_{_LINE_NO}", "invoice_id": invoice or f"in_{_LINE_NO}", "customer_id": f"cus_{sub}",
            "subscription_id": sub, "item_id": item or f"si_{sub}", "price_id": price, "quantity": qty, "amount": amount,
            "discount_amount": discount, "discount_ids": discount_ids, "tax": 0.0, "currency": currency,
            "period_start": T(start), "period_end": T(end), "proration": proration, "line_type": line_type,
            "invoice_status": status, "invoice_created_at": T(start), "invoice_due_at": T(due) if due else pd.NaT,
            "invoice_paid_at": T(start) + pd.Timedelta(hours=1) if paid else pd.NaT}


_LINE_NO = 0


def sub(sub_id: str, *, status: str = "active", trial_end: str | None = None, canceled_at: str | None = None,
        ended_at: str | None = None, cancel_at_period_end: bool = False, start: str = "2025-01-01") -> dict:
    return {"subscription_id": sub_id, "customer_id": f"cus_{sub_id}", "status": status, "created_at": T(start),
            "start_at": T(start), "trial_end": T(trial_end) if trial_end else pd.NaT,
            "canceled_at": T(canceled_at) if canceled_at else pd.NaT, "ended_at": T(ended_at) if ended_at else pd.NaT,
            "cancel_at_period_end": cancel_at_period_end}


def mrr(lines: list[dict], subs: list[dict], discounts: list[dict] | None = None, policy: RevenuePolicy | None = None,
        value: str = "mrr_local") -> dict[tuple[str, str], float]:
    """{(customer, 'YYYY-MM'): MRR at the month-end} from the invoice engine."""
    subscriptions = coerce_frame(pd.DataFrame(subs), src.BILLING_SUBSCRIPTIONS)
    customers = coerce_frame(subscriptions[["customer_id"]].drop_duplicates().assign(currency="USD"), src.BILLING_CUSTOMERS)
    disc = coerce_frame(pd.DataFrame(discounts or [], columns=["discount_id", "subscription_id", "percent_off", "start_at", "end_at"]),
                        src.BILLING_DISCOUNTS)
    intervals = invoice_intervals(customers, PRICES, subscriptions, pd.DataFrame(lines), disc, policy or RevenuePolicy(), "USD")
    snapshots = customer_mrr_snapshots(intervals, MONTHS, FX, "USD")
    return {(c, m.strftime("%Y-%m")): round(v, 6) for m, c, v in snapshots[["month", "customer_id", value]].itertuples(index=False)}


def months(customer: str, values: dict[str, float]) -> dict[tuple[str, str], float]:
    return {(customer, m): v for m, v in values.items()}


ALL = [m.strftime("%Y-%m") for m in MONTHS]


def test_mid_period_upgrade_takes_effect_at_its_proration() -> None:
    # $100/month from 15 Jan; on 1 Feb upgraded to $200: credit for the unused $100 time, charge for $200 time.
    lines = [line("a", "p_m", 1, 100, "2025-01-15", "2025-02-15"),
             line("a", "p_m", 1, -50, "2025-02-01", "2025-02-15", proration=True, invoice="in_up"),
             line("a", "p_m2", 1, 100, "2025-02-01", "2025-02-15", proration=True, invoice="in_up"),
             line("a", "p_m2", 1, 200, "2025-02-15", "2025-03-15")]
    # Active and not cancelling: the last paid line stays open (the next invoice is not issued yet).
    assert mrr(lines, [sub("a", start="2025-01-15")]) == months("cus_a", {"2025-01": 100, **dict.fromkeys(ALL[1:], 200.0)})


def test_plan_change_without_item_ids_ends_at_the_credit() -> None:
    # An export without subscription item ids: the old price's line is cut where its unused-time credit starts.
    lines = [{**row, "item_id": None} for row in (
        line("a2", "p_m2", 1, 200, "2025-01-15", "2025-02-15"),
        line("a2", "p_m2", 1, -100, "2025-01-30", "2025-02-15", proration=True, invoice="in_down"),
        line("a2", "p_m", 1, 50, "2025-01-30", "2025-02-15", proration=True, invoice="in_down"),
        line("a2", "p_m", 1, 100, "2025-02-15", "2025-03-15"))]
    subs = [sub("a2", status="canceled", ended_at="2025-03-15", start="2025-01-15")]
    assert mrr(lines, subs) == months("cus_a2", {"2025-01": 100, "2025-02": 100})


def test_downgrade_at_renewal_and_seat_change() -> None:
    lines = [line("b", "p_m2", 1, 200, "2025-01-10", "2025-02-10"), line("b", "p_m", 1, 100, "2025-02-10", "2025-03-10"),
             # 2 seats, 5 from 20 Jan (prorations), renewed with 5
             line("c", "p_m", 2, 200, "2025-01-01", "2025-02-01"),
             line("c", "p_m", 2, -70.97, "2025-01-20", "2025-02-01", proration=True, invoice="in_seats"),
             line("c", "p_m", 5, 177.42, "2025-01-20", "2025-02-01", proration=True, invoice="in_seats"),
             line("c", "p_m", 5, 500, "2025-02-01", "2025-03-01")]
    subs = [sub("b", status="canceled", ended_at="2025-03-10"), sub("c", status="canceled", ended_at="2025-03-01")]
    assert mrr(lines, subs) == {**months("cus_b", {"2025-01": 200, "2025-02": 100}),
                                # c ends exactly on 1 March: still counted at the end of February
                                **months("cus_c", {"2025-01": 500, "2025-02": 500})}


def test_annual_and_quarterly_terms_are_billed_once_per_term() -> None:
    lines = [line("d", "p_y", 1, 1200, "2025-01-20", "2026-01-20"), line("e", "p_q", 2, 540, "2025-02-05", "2025-05-05")]
    subs = [sub("d", start="2025-01-20"), sub("e", status="canceled", ended_at="2025-05-05", start="2025-02-05")]
    # annual: 1,200 / 12 = 100; quarterly: 2 x 270 / 3 = 180 until 5 May
    assert mrr(lines, subs) == {**months("cus_d", dict.fromkeys(ALL, 100.0)),
                                **months("cus_e", {"2025-02": 180, "2025-03": 180, "2025-04": 180})}


def test_discount_ending_known_and_unknown_to_the_discounts_table() -> None:
    lines = [line(s, "p_m", 1, 100, f"2025-{m:02d}-01", f"2025-{m + 1:02d}-01", discount=20 if m <= 2 else 0,
                  discount_ids="di_1" if m <= 2 and s == "f" else None) for s in ("f", "g") for m in (1, 2, 3)]
    discounts = [{"discount_id": "di_1", "subscription_id": "f", "percent_off": 20.0, "start_at": T("2025-01-01"), "end_at": T("2025-03-01")}]
    subs = [sub("f", status="canceled", ended_at="2025-04-01"), sub("g", status="canceled", ended_at="2025-04-01")]
    expected = {"2025-01": 80, "2025-02": 80, "2025-03": 100}
    # f: the discounts table knows di_1 (20 % until 1 March); g: 20 / 100 of the line
    assert mrr(lines, subs, discounts) == {**months("cus_f", expected), **months("cus_g", expected)}


def test_discount_ids_are_read_per_distinct_text_as_per_line() -> None:
    # a line's discounts are explained when it names at least one and all it names are known; blanks and
    # spaces around the commas are no names (decided once per distinct text, the same for every line)
    texts = ["d1", "d1, d2", "d1,dX", " d2 ,, d1 ", ",", "", " ", None, "dX", "d1", None, "d2,"]
    known = {"d1", "d2"}
    per_line = [bool(names) and all(n in known for n in names)
                for names in ([n.strip() for n in (t or "").split(",") if n.strip()] for t in texts)]
    for dtype in ("str", object):
        ids = pd.Series(texts, dtype=dtype)
        assert _explained_by_known(ids, known).tolist() == per_line
        assert _explained_by_known(ids.iloc[:0], known).tolist() == []
        lines = pd.DataFrame({"discount_ids": ids})
        table = pd.DataFrame({"discount_id": ["d1", "d2", "d3", ""]})
        assert _known_discounts(lines, table) == {"d1", "d2", ""}  # ',' names the blank id a table may hold


def test_discount_ending_inside_an_annual_term_ends_there() -> None:
    lines = [line("h", "p_y", 1, 1200, "2025-01-01", "2026-01-01", discount=300, discount_ids="di_3m")]
    discounts = [{"discount_id": "di_3m", "subscription_id": "h", "percent_off": 25.0, "start_at": T("2025-01-01"), "end_at": T("2025-04-01")}]
    # 25 % off for three months of the annual invoice: 75 at the ends of Jan-Mar, 100 after
    assert mrr(lines, [sub("h")], discounts) == months("cus_h", {**dict.fromkeys(ALL[:3], 75.0), **dict.fromkeys(ALL[3:], 100.0)})


def test_full_discount_void_and_reissue_credit_note_and_refund() -> None:
    lines = [line("i", "p_m", 1, 100, "2025-01-01", "2025-02-01", discount=100),  # 100 % off: no MRR
             # voided invoice of 3 seats, reissued for 2
             line("j", "p_m", 3, 300, "2025-01-01", "2025-02-01", status="void", paid=False),
             line("j", "p_m", 2, 200, "2025-01-01", "2025-02-01"),
             # a credit note's negative line and a refunded (still paid) invoice: cash, not MRR
             line("k", "p_m", 1, 100, "2025-01-01", "2025-02-01"),
             line("k", "p_m", 1, -40, "2025-01-10", "2025-01-10", line_type="invoiceitem"),
             line("k", "p_m", 1, 100, "2025-02-01", "2025-03-01")]
    subs = [sub(s, status="canceled", ended_at=end) for s, end in (("i", "2025-02-01"), ("j", "2025-02-01"), ("k", "2025-03-01"))]
    assert mrr(lines, subs) == {("cus_j", "2025-01"): 200.0, ("cus_k", "2025-01"): 100.0, ("cus_k", "2025-02"): 100.0}


def test_unpaid_invoice_counts_until_the_delinquency_cut_off() -> None:
    lines = [line("l", "p_m", 1, 100, "2025-01-01", "2025-02-01"),
             line("l", "p_m", 1, 100, "2025-02-01", "2025-03-01", status="uncollectible", due="2025-02-01", paid=False)]
    subs = [sub("l", status="canceled", ended_at="2025-03-18")]
    # 30 days from the 1 Feb due date: paying until 3 March, so counted at the end of February
    assert mrr(lines, subs) == months("cus_l", {"2025-01": 100, "2025-02": 100})
    # 10 days: cut off on 11 February, churned at the end of February
    assert mrr(lines, subs, policy=RevenuePolicy(delinquency_days=10)) == months("cus_l", {"2025-01": 100})


def test_cancellations_at_period_end_and_immediate_with_prorated_credit() -> None:
    lines = [line("m", "p_m", 1, 100, "2025-01-05", "2025-02-05"), line("m", "p_m", 1, 100, "2025-02-05", "2025-03-05"),
             line("n", "p_m", 1, 100, "2025-01-10", "2025-02-10"),
             line("n", "p_m", 1, -51.61, "2025-01-25", "2025-02-10", proration=True, invoice="in_credit")]
    subs = [sub("m", status="canceled", canceled_at="2025-02-20", cancel_at_period_end=True, ended_at="2025-03-05"),
            sub("n", status="canceled", canceled_at="2025-01-25", ended_at="2025-01-25")]
    # m: paid through 5 March, churns in March; n: ended 25 January, never at a month-end
    assert mrr(lines, subs) == months("cus_m", {"2025-01": 100, "2025-02": 100})
    # churn recognition at cancellation: m ends on 20 February
    assert mrr(lines, subs, policy=RevenuePolicy(churn_recognition="cancellation")) == months("cus_m", {"2025-01": 100})


def test_a_line_billing_nothing_pays_nothing_even_without_trial_end() -> None:
    lines = [line("o2", "p_m", 1, 0, "2025-01-20", "2025-02-20"), line("o2", "p_m", 1, 100, "2025-02-20", "2025-03-20")]
    assert mrr(lines, [sub("o2", status="canceled", ended_at="2025-03-20", start="2025-01-20")]) == {("cus_o2", "2025-02"): 100.0}


def test_trial_bills_nothing_then_converts() -> None:
    lines = [line("o", "p_m", 1, 0, "2025-01-20", "2025-02-03"),  # Stripe's $0 trial line
             line("o", "p_m", 1, 100, "2025-02-03", "2025-03-03")]
    subs = [sub("o", trial_end="2025-02-03", start="2025-01-20")]
    assert mrr(lines, subs) == months("cus_o", dict.fromkeys(ALL[1:], 100.0))


def test_two_items_and_two_currencies_with_an_fx_move() -> None:
    lines = [line("p", "p_m", 2, 200, "2025-01-01", "2025-02-01", item="si_seats"),
             line("p", "p_m2", 1, 200, "2025-01-01", "2025-02-01", item="si_addon", invoice="in_1"),
             line("q", "p_eur", 2, 100, "2025-01-01", "2025-02-01", currency="EUR"),
             line("q", "p_eur", 2, 100, "2025-02-01", "2025-03-01", currency="EUR")]
    subs = [sub("p", status="canceled", ended_at="2025-02-01"), sub("q", status="canceled", ended_at="2025-03-01")]
    assert mrr(lines, subs) == {("cus_p", "2025-01"): 400.0, ("cus_q", "2025-01"): 100.0, ("cus_q", "2025-02"): 100.0}
    # EUR 100 at 1.10 on 31 January, 1.05 from 1 February: the same local MRR, USD 110 then 105
    assert mrr(lines, subs, value="mrr") == {("cus_p", "2025-01"): 400.0, ("cus_q", "2025-01"): 110.0, ("cus_q", "2025-02"): 105.0}


def test_price_known_only_from_the_line() -> None:
    # no billing_prices row: interval from the line, unit amount = amount / quantity of the full-period line
    lines = [{**line("r", "p_unknown", 4, 360, "2025-01-01", "2025-04-01"), "interval": "month", "interval_count": 3}]
    assert mrr(lines, [sub("r", status="canceled", ended_at="2025-04-01")]) == months("cus_r", dict.fromkeys(ALL[:3], 120.0))
    # only a proration: its price's interval scales it up: 17 of April's 30 days billed 4 x 85 = 340
    # -> a full month 340 / (17/30) = 600
    only_proration = [{**line("s", "p_new", 4, 340, "2025-04-14", "2025-05-01", proration=True),
                       "interval": "month", "interval_count": 1}]
    assert mrr(only_proration, [sub("s", status="canceled", ended_at="2025-05-01")]) == {("cus_s", "2025-04"): 600.0}
    # only a proration of a price whose interval nobody says: its MRR cannot be known; left out with a
    # warning, not a crash
    unknown = [line("s", "p_unknown", 4, 100, "2025-01-15", "2025-02-01", proration=True)]
    with pytest.warns(UnpricedLinesWarning, match=r"1 invoice line\(s\) of 1 subscription\(s\).*\['p_unknown'\]"):
        assert mrr(unknown, [sub("s")]) == {}
    mixed = [*lines, line("s", "p_other", 4, 100, "2025-01-15", "2025-02-01", proration=True)]
    with pytest.warns(UnpricedLinesWarning):  # the priced subscription keeps its MRR
        assert mrr(mixed, [sub("r", status="canceled", ended_at="2025-04-01"), sub("s")]) == months("cus_r", dict.fromkeys(ALL[:3], 120.0))


def test_empty_and_incomplete_input() -> None:
    assert mrr([], [sub("t")]) == {}
    # an incomplete subscription never pays, whatever its open invoice says
    lines = [line("u", "p_m", 1, 100, "2025-01-01", "2025-02-01", status="open", paid=False, due="2025-01-01")]
    assert mrr(lines, [sub("u", status="incomplete")]) == {}


def test_choose_engines_and_reconciliation() -> None:
    subs = coerce_frame(pd.DataFrame([sub("v"), sub("w"), {**sub("x"), "history_since": T("2025-03-01")}, sub("y")]),
                        src.BILLING_SUBSCRIPTIONS)
    items = coerce_frame(pd.DataFrame({"item_version_id": ["1", "2", "3"], "item_id": ["1", "2", "3"],
                                       "subscription_id": ["v", "x", "y"], "price_id": "p_m"}), src.BILLING_SUBSCRIPTION_ITEMS)
    lines = pd.DataFrame([line(s, "p_m", 1, 100, "2025-01-01", "2025-02-01") for s in ("v", "w", "x")])
    auto = choose_engines(subs, items, lines, "auto").to_dict()
    # w has no item history, x's starts after the subscription did; y has no invoice lines
    assert auto == {"v": "subscriptions", "w": "invoices", "x": "invoices", "y": "subscriptions"}
    assert set(choose_engines(subs, items, lines, "invoices")) == {"invoices"}
    with pytest.raises(ValueError, match="subscriptions, invoices or auto"):
        choose_engines(subs, items, lines, "events")

    def intervals(rows: list[tuple]) -> pd.DataFrame:
        return pd.DataFrame([{"customer_id": c, "subscription_id": c, "item_id": c, "currency": cur, "start_at": T(a),
                              "end_at": T(b) if b else pd.NaT, "mrr": v, "source": "x"} for c, cur, a, b, v in rows])

    by_subscriptions = intervals([("c1", "USD", "2025-01-01", None, 100.0), ("c2", "USD", "2025-01-01", "2025-03-01", 50.0),
                                  ("c3", "EUR", "2025-01-10", None, 10.0)])
    by_invoices = intervals([("c1", "USD", "2025-01-01", None, 100.004), ("c2", "USD", "2025-01-01", "2025-02-01", 50.0),
                             ("c3", "EUR", "2025-01-10", None, 12.0), ("c4", "USD", "2025-02-15", "2025-03-01", 30.0)])
    months = month_ends(by_subscriptions, by_invoices, T("2025-02-01"))
    assert months == [T("2025-01-01"), T("2025-02-01")]
    got = reconcile_engines(by_subscriptions, by_invoices, months)
    # c1 within half a cent; c2 ends 1 Feb on invoices, 1 Mar on subscriptions; c3 10 vs 12 EUR; c4 only on invoices
    assert got[["month", "customer_id", "currency", "mrr_subscriptions", "mrr_invoices", "difference", "reason"]].values.tolist() == [
        [T("2025-01-01"), "c3", "EUR", 10.0, 12.0, 2.0, "amount"],
        [T("2025-02-01"), "c2", "USD", 50.0, 0.0, -50.0, "only_subscriptions"],
        [T("2025-02-01"), "c3", "EUR", 10.0, 12.0, 2.0, "amount"],
        [T("2025-02-01"), "c4", "USD", 0.0, 30.0, 30.0, "only_invoices"]]
    assert reconcile_engines(by_subscriptions.iloc[:0], by_invoices.iloc[:0], []).empty


@pytest.mark.parametrize("chunk", [1, 2])
def test_reconciliation_a_few_months_at_a_time_equals_all_at_once(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    rows = [("c1", "USD", "2024-11-01", None, 100.0, 100.0), ("c2", "USD", "2024-12-20", "2025-03-01", 50.0, 55.0),
            ("c3", "EUR", "2025-01-10", "2025-04-01", 10.0, 12.0), ("c4", "GBP", "2024-10-01", None, 7.0, 7.5)]
    by_subscriptions = pd.DataFrame([{"customer_id": c, "subscription_id": c, "item_id": c, "currency": cur, "start_at": T(a),
                                      "end_at": T(b) if b else pd.NaT, "mrr": s, "source": "x"} for c, cur, a, b, s, _ in rows])
    by_invoices = by_subscriptions.assign(mrr=[i for *_, i in rows], end_at=by_subscriptions["end_at"].fillna(T("2025-02-01")))
    months = month_ends(by_subscriptions, by_invoices, T("2025-04-01"))
    assert len(months) == 7
    whole = reconcile_engines(by_subscriptions, by_invoices, months)
    monkeypatch.setattr(revenue_reconciliation, "MONTHS_PER_CHUNK", chunk)
    pd.testing.assert_frame_equal(reconcile_engines(by_subscriptions, by_invoices, months), whole)
    # c1 3 months only on subscriptions; c2 3, c3 3 and c4 4 months of amount; c4 3 months only on subscriptions
    assert len(whole) == 16 and whole["reason"].value_counts().to_dict() == {"amount": 10, "only_subscriptions": 6}


@pytest.mark.parametrize("source", ["auto", "subscriptions", "invoices"])
def test_reconcilable_intervals_reuse_the_built_subscription_engine(source: str) -> None:
    # v runs on the subscription engine under auto, x on the invoice engine (its history starts late): the
    # reconciliation takes v's intervals from the build and runs x (and, under invoices, v) itself.
    subs = coerce_frame(pd.DataFrame([sub("v"), {**sub("x"), "history_since": T("2025-03-01")}, sub("y", start="2025-02-10"),
                                      sub("w")]), src.BILLING_SUBSCRIPTIONS)
    customers = coerce_frame(subs[["customer_id"]].assign(currency="USD"), src.BILLING_CUSTOMERS)
    items = coerce_frame(pd.DataFrame({"item_version_id": ["1", "2", "3", "4"], "item_id": ["1", "2", "2", "3"],
                                       "subscription_id": ["v", "x", "x", "y"], "price_id": ["p_m", "p_m", "p_eur", "p_q"],
                                       "quantity": [2.0, 1.0, 3.0, 1.0],
                                       "valid_from": [pd.NaT, T("2025-01-01"), T("2025-03-01"), pd.NaT],
                                       "valid_to": [pd.NaT, T("2025-03-01"), pd.NaT, pd.NaT]}), src.BILLING_SUBSCRIPTION_ITEMS)
    disc = coerce_frame(pd.DataFrame({"discount_id": ["d1"], "subscription_id": ["v"], "percent_off": [10.0],
                                      "start_at": [T("2025-02-01")], "end_at": [T("2025-04-01")]}), src.BILLING_DISCOUNTS)
    lines = pd.DataFrame([line(s, "p_m", 1, 100, "2025-01-01", "2025-02-01") for s in ("v", "x", "w")]
                         + [line("y", "p_q", 1, 270, "2025-02-10", "2025-05-10")])
    policy = RevenuePolicy(source=source)
    args = (customers, PRICES, subs, items, None, disc)
    built = build_intervals_by_engine(*args, None, None, lines, policy, "USD")
    assert (built[1] == "invoices").any() == (source != "subscriptions")
    fresh = reconcilable_intervals(*args, lines, policy, "USD")
    reused = reconcilable_intervals(*args, lines, policy, "USD", built=built)
    assert set(fresh[0]["subscription_id"]) == {"v", "x", "y"}
    for a, b in zip(fresh, reused, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_build_by_engine_with_histories_deleted() -> None:
    # invoices only: no items, no status history, no prices beyond the table
    subs = coerce_frame(pd.DataFrame([sub("z", status="canceled", ended_at="2025-03-01")]), src.BILLING_SUBSCRIPTIONS)
    lines = pd.DataFrame([line("z", "p_m", 3, 300, "2025-01-01", "2025-02-01"), line("z", "p_m", 3, 300, "2025-02-01", "2025-03-01")])
    intervals, engines = build_intervals_by_engine(None, PRICES, subs, None, None, None, None, None, lines, RevenuePolicy(), "USD")
    assert engines.to_dict() == {"z": "invoices"}
    assert intervals[["subscription_id", "start_at", "end_at", "mrr", "source"]].values.tolist() == [
        ["z", T("2025-01-01"), T("2025-03-01"), 300.0, "invoices"]]
