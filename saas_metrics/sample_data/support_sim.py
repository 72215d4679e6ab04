"""Zendesk-like tickets and Delighted-like NPS responses of paying customers.
At-risk customers file ~4x the tickets (more of them urgent) from their collapse
month on and answer the NPS survey with 0-4."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from saas_metrics.sample_data.product_sim import collapse_month_of

PRIORITIES = np.array(["low", "normal", "high", "urgent"], dtype=object)
PRIORITY_P = np.array([0.30, 0.45, 0.18, 0.07])
AT_RISK_PRIORITY_P = np.array([0.10, 0.30, 0.35, 0.25])
#: median minutes to first reply by priority
REPLY_MEDIAN_MINUTES = {"low": 720, "normal": 360, "high": 120, "urgent": 30}
SUBJECTS = ("Cannot export report", "Billing question", "SSO setup", "Dashboard is slow", "Invite teammates",
            "API rate limit", "Feature request", "Data sync delayed")


def _random_in_month(rng: np.random.Generator, months: pd.Series, horizon: dt.datetime) -> pd.Series:
    month = pd.to_datetime(months)
    length = (month + pd.offsets.MonthBegin(1) - month).dt.total_seconds().to_numpy()
    at = month + pd.to_timedelta(np.floor(rng.random(len(month)) * length), unit="s")
    return at.where(at < pd.Timestamp(horizon), pd.Timestamp(horizon) - pd.Timedelta(seconds=1))


def _iso(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(values.notna(), None)


def simulate_tickets(rng: np.random.Generator, mrr: pd.DataFrame, seats: pd.Series, at_risk: pd.DataFrame,
                     horizon: dt.datetime) -> pd.DataFrame:
    """One row per ticket in Zendesk's export columns."""
    cm = mrr[["customer_id", "month"]].copy()
    collapse = collapse_month_of(cm["customer_id"], at_risk)
    risky = (cm["month"] >= collapse).to_numpy()
    lam = np.minimum(0.12 + 0.02 * cm["customer_id"].map(seats).fillna(1).to_numpy(), 1.2) * np.where(risky, 4.0, 1.0)
    n = rng.poisson(lam)
    idx = np.repeat(np.arange(len(cm)), n)
    risky_t = risky[idx]
    created = _random_in_month(rng, cm["month"].iloc[idx].reset_index(drop=True), horizon)
    u = rng.random(len(idx))
    priority = np.where(risky_t, PRIORITIES[np.searchsorted(np.cumsum(AT_RISK_PRIORITY_P), u)],
                        PRIORITIES[np.searchsorted(np.cumsum(PRIORITY_P), u)])
    median = np.array([REPLY_MEDIAN_MINUTES[p] for p in priority], dtype=float)
    reply_minutes = np.round(median * rng.lognormal(0.0, 0.8, len(idx))).astype(int) + 1
    solve_hours = rng.lognormal(np.log(20), 1.0, len(idx))
    first_reply = created + pd.to_timedelta(reply_minutes, unit="m")
    solved = first_reply + pd.to_timedelta(np.round(solve_hours * 3600), unit="s")
    replied = (first_reply < pd.Timestamp(horizon)).to_numpy()
    is_solved = (solved < pd.Timestamp(horizon)).to_numpy()
    closed = (solved < pd.Timestamp(horizon) - pd.Timedelta(days=4)).to_numpy()
    status = np.where(closed, "closed", np.where(is_solved, "solved", np.where(replied, np.where(rng.random(len(idx)) < 0.5, "open", "pending"), "new")))
    tickets = pd.DataFrame({
        "created": created, "customer_id": cm["customer_id"].to_numpy()[idx], "priority": priority, "status": status,
        "reply_minutes": pd.array(np.where(replied, reply_minutes, 0), dtype="Int64"),
        "solved": solved.where(is_solved), "subject": np.array(SUBJECTS, dtype=object)[rng.integers(0, len(SUBJECTS), len(idx))],
        "via": np.array(["email", "web", "chat"], dtype=object)[rng.integers(0, 3, len(idx))],
    })
    tickets.loc[~replied, "reply_minutes"] = pd.NA
    tickets = tickets.sort_values(["created", "customer_id"], kind="stable").reset_index(drop=True)
    updated = tickets["solved"].fillna(tickets["created"] + pd.to_timedelta(tickets["reply_minutes"].fillna(0).astype(int), unit="m"))
    return pd.DataFrame({
        "id": np.arange(1, len(tickets) + 1) + 10_000,
        "created_at": _iso(tickets["created"]),
        "updated_at": _iso(updated),
        "subject": tickets["subject"],
        "priority": tickets["priority"],
        "status": tickets["status"],
        "via_channel": tickets["via"],
        "organization_external_id": tickets["customer_id"],
        "reply_time_in_minutes": tickets["reply_minutes"],
        "solved_at": _iso(tickets["solved"]),
    })


def simulate_nps(rng: np.random.Generator, mrr: pd.DataFrame, emails: pd.Series, at_risk: pd.DataFrame,
                 horizon: dt.datetime) -> pd.DataFrame:
    """Delighted-like export: every paying customer is surveyed every 6 months (35 % answer);
    at-risk customers answer 0-4 in their collapse month."""
    cm = mrr[["customer_id", "month"]].drop_duplicates().reset_index(drop=True)
    number = cm["customer_id"].str.slice(4).astype(int).to_numpy()
    month_no = (cm["month"].dt.year * 12 + cm["month"].dt.month).to_numpy()
    surveyed = ((month_no + number) % 6 == 0) & (rng.random(len(cm)) < 0.35)
    collapse_hit = (cm["month"] == collapse_month_of(cm["customer_id"], at_risk)).to_numpy()
    is_risky = cm["customer_id"].isin(set(at_risk["customer_id"])).to_numpy()
    take = (surveyed & ~is_risky) | collapse_hit
    rows = cm[take].reset_index(drop=True)
    risky_rows = collapse_hit[take]
    score = np.where(risky_rows, rng.integers(0, 5, len(rows)),
                     np.array([10, 9, 8, 7, 6, 5, 4, 3])[np.searchsorted(np.cumsum([0.25, 0.2, 0.17, 0.13, 0.1, 0.07, 0.05, 0.03]), rng.random(len(rows)) * 0.9999)])
    created = _random_in_month(rng, rows["month"], horizon)
    order = np.argsort(created.to_numpy(), kind="stable")
    rows, score, created = rows.iloc[order].reset_index(drop=True), score[order], created.iloc[order].reset_index(drop=True)
    return pd.DataFrame({
        "id": np.arange(1, len(rows) + 1) + 700_000,
        "person_id": "p_" + rows["customer_id"].str.slice(4),
        "email": rows["customer_id"].map(emails).to_numpy(),
        "score": score,
        "comment": np.where(score <= 4, "Too many issues lately", np.where(score >= 9, "Love it", "")),
        "created_at": ((created - pd.Timestamp(0)).dt.total_seconds()).astype(np.int64),
        "properties_stripe_customer_id": rows["customer_id"].to_numpy(),
    })


#: subject -> (category, tag) of an ordinary ticket
SUBJECT_TOPIC = {"Cannot export report": ("technical", "export"), "Billing question": ("billing", "invoice"),
                 "SSO setup": ("account", "sso"), "Dashboard is slow": ("technical", "performance"),
                 "Invite teammates": ("account", "invite"), "API rate limit": ("technical", "api"),
                 "Feature request": ("feature_request", "feature"), "Data sync delayed": ("technical", "sync")}
#: planted risky topic -> (category, tag)
RISKY_TAGS = {"discount": ("billing", "discount_request"), "value": ("account", "roi_question"),
              "competitor": ("account", "competitor_comparison")}


def plant_ticket_topics(seed: int, tickets: pd.DataFrame, at_risk: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zendesk ``category`` and ``tags`` for every ticket: an ordinary one from its subject; 80 % of the
    tickets an at-risk customer files from its collapse month on ask about a discount, value/ROI or a
    competitor, and 1 % of the others about a discount. Uses its own random generator, so the ticket
    rows stay as they were. Returns the tickets with the two columns and the ground truth
    (ticket_id, customer_id, created_at, topic, at_risk)."""
    rng = np.random.default_rng([seed, 26])
    created = pd.to_datetime(tickets["created_at"]).dt.tz_localize(None)
    month = created.dt.to_period("M").dt.to_timestamp()
    risky_customer = (month >= collapse_month_of(tickets["organization_external_id"], at_risk)).to_numpy()
    u = rng.random(len(tickets))
    planted = np.where(risky_customer, u < 0.8, u < 0.01)
    topic = np.where(planted, np.array(sorted(RISKY_TAGS), dtype=object)[rng.integers(0, len(RISKY_TAGS), len(tickets))], None)  # type: ignore[call-overload]  # None: see churn_reasons_sim
    topic = np.where(planted & ~risky_customer, "discount", topic)
    ordinary = tickets["subject"].map(SUBJECT_TOPIC)
    category = [RISKY_TAGS[t][0] if t else o[0] for t, o in zip(topic, ordinary, strict=True)]
    tags = [f"{o[1]} {RISKY_TAGS[t][1]}" if t else o[1] for t, o in zip(topic, ordinary, strict=True)]
    out = tickets.assign(category=category, tags=tags)
    truth = pd.DataFrame({"ticket_id": tickets["id"], "customer_id": tickets["organization_external_id"],
                          "created_at": tickets["created_at"], "topic": topic, "at_risk": risky_customer})[planted]
    return out, truth.reset_index(drop=True)
