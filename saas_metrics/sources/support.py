"""Zendesk-like tickets (support/tickets.csv) and Delighted-like NPS responses
(support/nps_responses.csv) -> support_tickets, nps_responses.

``first_response_at`` = created_at + reply_time_in_minutes (Zendesk's ticket
metric) unless the export has a first_response_at column. An NPS response's
customer is the ``properties_stripe_customer_id`` survey property.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.files import lower, open_native

SYSTEM = "support"


def read_tickets(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "support/tickets.csv", SYSTEM)
    if t is None:
        return s.SUPPORT_TICKETS.empty_frame()
    created = t.timestamp("created_at", "created_at")
    if t.has("first_response_at"):
        first_response = t.timestamp("first_response_at", "first_response_at")
    else:
        minutes = t.number("reply_time_in_minutes", "first_response_at")
        first_response = created + pd.to_timedelta(minutes, unit="m")
    return t.finish({
        "ticket_id": t.text("id"), "customer_id": t.text("organization_external_id"), "created_at": created,
        "priority": lower(t.text("priority", "priority")), "status": lower(t.text("status", "status")),
        "first_response_at": first_response, "solved_at": t.timestamp("solved_at", "solved_at"),
        # what the ticket is about, when exported (Zendesk tags; a category custom field)
        "category": lower(t.text("category")) if t.has("category") else None,
        "tags": lower(t.text("tags")) if t.has("tags") else None,
    }, s.SUPPORT_TICKETS)


def read_nps(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "support/nps_responses.csv", SYSTEM)
    if t is None:
        return s.NPS_RESPONSES.empty_frame()
    return t.finish({
        "response_id": t.text("id"), "customer_id": t.text("properties_stripe_customer_id"),
        "score": t.integer("score", "score"), "submitted_at": t.timestamp("created_at", "submitted_at"),
    }, s.NPS_RESPONSES)
