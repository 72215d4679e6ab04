"""HubSpot-like CRM: companies, contacts with lifecycle-stage dates, deals,
form submissions, touchpoints and demo meetings; plus the web sessions of the
same visitors. Customers' contacts convert; ~4 other leads per customer do not."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from saas_metrics.sample_data.catalog import MONTHLY_SEAT_PRICE
from saas_metrics.sample_data.marketing import (
    CAMPAIGNS,
    EMAIL_CAMPAIGNS,
    HUBSPOT_SOURCE,
    UTM_OF_CHANNEL,
    slug,
)
from saas_metrics.sample_data.names import (
    FREE_EMAIL_DOMAINS,
    company_names,
    email_local,
    person_names,
)
from saas_metrics.sample_data.population import ACQUISITION_CHANNELS
from saas_metrics.sample_data.timeutil import add_months

LEADS_PER_CUSTOMER = 4
SITE = "https://www.example-saas.com"
FORM_TITLES = {
    "free_trial": ("f1a0c2d4-0001", "Start your free trial", "/signup"),
    "live_demo": ("f1a0c2d4-0002", "Book a live demo", "/demo"),
    "video_demo": ("f1a0c2d4-0003", "Watch the product tour", "/tour"),
    "contact": ("f1a0c2d4-0004", "Contact sales", "/contact"),
    "newsletter": ("f1a0c2d4-0005", "Newsletter signup", "/blog"),
}
TOUCH_EVENT = {"ad_click": "AD_CLICK", "form_submission": "FORM_SUBMISSION", "email_click": "EMAIL_CLICK", "page_visit": "PAGE_VIEW"}


@dataclass
class CrmRecords:
    companies: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, Any]] = field(default_factory=list)
    touches: list[dict[str, Any]] = field(default_factory=list)
    meetings: list[dict[str, Any]] = field(default_factory=list)


def crm_company_id(index: int) -> str:
    return str(9_100_000 + index)


class CrmSimulator:
    def __init__(self, r: random.Random, horizon: dt.datetime) -> None:
        self.r = r
        self.horizon = horizon
        self.out = CrmRecords()
        self.n_contacts = 0
        self.n_touches = 0
        self.n_forms = 0
        self.n_meetings = 0
        self.n_deals = 0

    def _utm(self, channel: str) -> tuple[str, str, str]:
        source, medium = self.r.choice(UTM_OF_CHANNEL[channel])
        if channel in CAMPAIGNS:
            campaign = slug(self.r.choices(CAMPAIGNS[channel], weights=[c[2] for c in CAMPAIGNS[channel]])[0][1])
        elif channel == "email":
            campaign = self.r.choice(EMAIL_CAMPAIGNS)
        else:
            campaign = ""
        return source, medium, campaign

    def _touch(self, contact_id: str, visitor_id: str, at: dt.datetime, kind: str, utm: tuple[str, str, str]) -> None:
        if at >= self.horizon:
            return
        self.n_touches += 1
        self.out.touches.append({"event_id": f"te_{self.n_touches:010d}", "contact_id": contact_id, "visitor_id": visitor_id,
                                 "occurred_at": at, "event_type": TOUCH_EVENT[kind], "utm": utm})

    def _form(self, contact_id: str, visitor_id: str, at: dt.datetime, form_type: str, utm: tuple[str, str, str]) -> None:
        if at >= self.horizon:
            return
        self.n_forms += 1
        self.out.forms.append({"conversion_id": f"conv-{self.n_forms:010d}", "contact_id": contact_id, "submitted_at": at,
                               "form_type": form_type, "utm": utm})
        self._touch(contact_id, visitor_id, at, "form_submission", utm)
        r = self.r
        if form_type in ("live_demo", "video_demo"):
            self.n_meetings += 1
            if form_type == "live_demo":
                start = at + dt.timedelta(days=r.randrange(1, 8), hours=r.randrange(0, 8))
                outcome = "COMPLETED" if start < self.horizon else "SCHEDULED"
                if outcome == "COMPLETED":
                    outcome = r.choices(("COMPLETED", "NO_SHOW", "CANCELED"), weights=(0.78, 0.14, 0.08))[0]
            else:
                start = at + dt.timedelta(minutes=r.randrange(1, 30))
                outcome = "COMPLETED"
            if start < self.horizon or form_type == "live_demo":
                self.out.meetings.append({"hs_object_id": str(30_000_000 + self.n_meetings), "contact_id": contact_id,
                                          "type": form_type, "requested_at": at, "start": start, "outcome": outcome})

    def contact(self, *, email: str, first: str, last: str, company_id: str | None, created: dt.datetime, channel: str,
                form_type: str, customer_at: dt.datetime | None, sales_led: bool, stage_depth: int,
                billing_customer_id: str | None, referred_by: str | None, deal_amount: float | None,
                deal_currency: str | None) -> str:
        """One contact with its touchpoints, forms, meeting and deal. ``stage_depth``: 0 lead,
        1 MQL, 2 SQL, 3 opportunity (customers reach the customer stage at ``customer_at``)."""
        r = self.r
        self.n_contacts += 1
        contact_id = str(5_100_000 + self.n_contacts)
        first_visit = created - dt.timedelta(seconds=r.randrange(0, 21 * 86_400))
        visitor_id = f"{r.randrange(10**9, 10**10)}.{int((first_visit - dt.datetime(1970, 1, 1)).total_seconds())}"
        utm = self._utm(channel)
        first_kind = "ad_click" if channel in CAMPAIGNS else ("email_click" if channel == "email" else "page_visit")
        self._touch(contact_id, visitor_id, first_visit, first_kind, utm)
        self._form(contact_id, visitor_id, created, form_type, utm)
        end = customer_at or created + dt.timedelta(days=60)
        for _ in range(r.randrange(0, 4)):
            at = created + (end - created) * r.random()
            kind = r.choices(("email_click", "page_visit", "ad_click"), weights=(0.6, 0.25, 0.15))[0]
            follow = {"email_click": "email", "page_visit": r.choice(("direct", "organic_search")),
                      "ad_click": channel if channel in CAMPAIGNS else "google_ads"}[kind]
            self._touch(contact_id, visitor_id, at, kind, self._utm(follow))
        if sales_led and form_type == "video_demo" and r.random() < 0.5:
            self._form(contact_id, visitor_id, created + (end - created) * 0.3, "live_demo", self._utm("direct"))

        mql = created + dt.timedelta(hours=r.randrange(1, 120)) if stage_depth >= 1 else None
        sql = mql + dt.timedelta(hours=r.randrange(24, 240)) if mql and stage_depth >= 2 else None
        opp = sql + dt.timedelta(hours=r.randrange(2, 120)) if sql and stage_depth >= 3 else None
        stages = {"lead": created, "marketingqualifiedlead": mql, "salesqualifiedlead": sql, "opportunity": opp, "customer": customer_at}
        stages = {k: (v if v is not None and v < self.horizon and (customer_at is None or k == "customer" or v <= customer_at) else None)
                  for k, v in stages.items()}
        reached = [k for k, v in stages.items() if v is not None]
        lifecycle = reached[-1] if reached else "lead"
        hs_source, hs_data_1 = HUBSPOT_SOURCE[channel]
        self.out.contacts.append({
            "hs_object_id": contact_id, "email": email, "firstname": first, "lastname": last,
            "associatedcompanyid": company_id, "createdate": created, "lifecyclestage": lifecycle,
            "hs_analytics_source": hs_source, "hs_analytics_source_data_1": hs_data_1,
            "hs_analytics_source_data_2": utm[2] if channel in CAMPAIGNS else "",
            **{f"hs_lifecyclestage_{k}_date": v for k, v in stages.items()},
            "stripe_customer_id": billing_customer_id, "hubspot_owner_id": str(700 + r.randrange(1, 9)) if sales_led else None,
            "ga_client_id": visitor_id, "referred_by_customer_id": referred_by,
        })
        deal_created = sql or (mql if sales_led else None)
        if deal_created is not None and deal_created < self.horizon and (sales_led or stage_depth >= 3):
            self.n_deals += 1
            won = customer_at is not None and customer_at < self.horizon
            lost = not won and r.random() < 0.7 and deal_created + dt.timedelta(days=45) < self.horizon
            closed = customer_at if won else (deal_created + dt.timedelta(days=r.randrange(10, 45)) if lost else None)
            self.out.deals.append({
                "hs_object_id": str(40_000_000 + self.n_deals), "dealname": f"{email.split('@')[1]} - new business",
                "createdate": deal_created, "closedate": closed,
                "dealstage": "closedwon" if won else ("closedlost" if lost else "presentationscheduled"),
                "amount": deal_amount if deal_amount else round(r.uniform(3_000, 40_000), -2),
                "deal_currency_code": (deal_currency or "usd").upper(), "associated_company_id": company_id,
                "associated_contact_id": contact_id, "hs_is_closed_won": "true" if won else "false",
            })
        return contact_id


def simulate_crm(r: random.Random, rng: np.random.Generator, population: pd.DataFrame, horizon: dt.datetime,
                 first_month: dt.datetime, months: int) -> CrmRecords:
    sim = CrmSimulator(r, horizon)
    for c in population.to_dict("records"):
        created: dt.datetime = c["created"].to_pydatetime()
        company_id = c["crm_company_id"]
        sim.out.companies.append({"hs_object_id": company_id, "name": c["company_name"], "domain": c["domain"],
                                  "country": c["country"], "createdate": created - dt.timedelta(days=r.randrange(1, 90)),
                                  "hubspot_owner_id": str(700 + r.randrange(1, 9)) if c["sales_led"] else None,
                                  "stripe_customer_id": c["customer_id"] if c["billing_link_in_crm"] else None})
        if c["trial"]:
            contact_created, form_type = created - dt.timedelta(seconds=r.randrange(60, 3600)), "free_trial"
        elif c["sales_led"]:
            contact_created = created - dt.timedelta(days=r.randrange(14, 76))
            form_type = r.choices(("live_demo", "video_demo"), weights=(0.7, 0.3))[0]
        else:
            contact_created = created - dt.timedelta(days=r.randrange(0, 31), seconds=r.randrange(3600, 86_400))
            form_type = r.choice(("contact", "video_demo"))
        customer_at = c["first_paid_at"].to_pydatetime() if pd.notna(c["first_paid_at"]) else None
        amount = None
        if c["sales_led"]:
            amount = float(c["seats"] * MONTHLY_SEAT_PRICE[c["tier"]][c["currency"]] * 12)
        sim.contact(email=c["email"], first=c["first_name"], last=c["last_name"], company_id=company_id,
                    created=contact_created, channel=c["channel"], form_type=form_type, customer_at=customer_at,
                    sales_led=bool(c["sales_led"]), stage_depth=3 if c["sales_led"] else 1,
                    billing_customer_id=c["customer_id"] if c["billing_link_in_crm"] else None,
                    referred_by=c["referred_by"], deal_amount=amount, deal_currency=c["currency"])

    # Leads that never buy, arriving over the window like the customers do.
    n_leads = LEADS_PER_CUSTOMER * int((~population["is_initial"]).sum())
    weights = 1.03 ** np.arange(months)
    counts = rng.multinomial(n_leads, weights / weights.sum())
    names, domains = company_names(rng, n_leads)
    first, last = person_names(rng, n_leads)
    channel_idx = rng.choice(len(ACQUISITION_CHANNELS), n_leads, p=[0.25, 0.2, 0.15, 0.15, 0.07, 0.06, 0.04, 0.08])
    depth = np.searchsorted(np.cumsum([0.65, 0.245, 0.05, 0.055]), rng.random(n_leads))
    free_mail = rng.random(n_leads) < 0.3
    offsets = rng.random(n_leads)
    lead = 0
    n_companies = len(population)
    for m, count in enumerate(counts):
        start = add_months(first_month, m)
        span = add_months(first_month, m + 1) - start
        for _ in range(int(count)):
            created = start + span * float(offsets[lead])
            company_id = None
            if free_mail[lead]:
                domain = FREE_EMAIL_DOMAINS[lead % len(FREE_EMAIL_DOMAINS)]
            else:
                domain = f"lead-{domains[lead]}"
                company_id = str(9_100_000 + n_companies + lead)
                sim.out.companies.append({"hs_object_id": company_id, "name": names[lead], "domain": domain, "country": None,
                                          "createdate": created, "hubspot_owner_id": None, "stripe_customer_id": None})
            form_type = r.choices(("newsletter", "contact", "video_demo", "live_demo"), weights=(0.45, 0.15, 0.2, 0.2))[0]
            sim.contact(email=f"{email_local(first[lead], last[lead])}{lead}@{domain}", first=first[lead], last=last[lead],
                        company_id=company_id, created=created, channel=ACQUISITION_CHANNELS[channel_idx[lead]],
                        form_type=form_type, customer_at=None, sales_led=False, stage_depth=int(depth[lead]),
                        billing_customer_id=None, referred_by=None, deal_amount=None, deal_currency=None)
            lead += 1
    return sim.out


def _utm_url(path: str, utm: tuple[str, str, str]) -> str:
    source, medium, campaign = utm
    if not source and not medium:
        return f"{SITE}{path}"
    return f"{SITE}{path}?utm_source={source}&utm_medium={medium}&utm_campaign={campaign}"


def _iso(values: list | pd.Series) -> pd.Series:
    """ISO 8601 'Z' text of datetimes (None for missing), vectorised."""
    stamps = pd.to_datetime(pd.Series(list(values), dtype=object)).astype("datetime64[ns]")
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(stamps.notna(), None).astype(object)


def native_frames(rec: CrmRecords) -> dict[str, pd.DataFrame]:
    """CRM records -> HubSpot-like native frames (ISO timestamps with Z; form submissions in epoch ms)."""
    contacts = pd.DataFrame(rec.contacts)
    for col in [c for c in contacts.columns if c.endswith("_date") or c == "createdate"]:
        contacts[col] = _iso(contacts[col])
    companies = pd.DataFrame(rec.companies)
    companies["createdate"] = _iso(companies["createdate"])
    deals = pd.DataFrame(rec.deals, columns=["hs_object_id", "dealname", "createdate", "closedate", "dealstage", "amount",
                                             "deal_currency_code", "associated_company_id", "associated_contact_id", "hs_is_closed_won"])
    deals["createdate"] = _iso(deals["createdate"])
    deals["closedate"] = _iso(deals["closedate"])
    deals["amount"] = deals["amount"].map(lambda v: f"{v:.2f}")
    forms = pd.DataFrame({
        "conversion_id": [f["conversion_id"] for f in rec.forms],
        "contact_id": [f["contact_id"] for f in rec.forms],
        "form_id": [FORM_TITLES[f["form_type"]][0] for f in rec.forms],
        "form_title": [FORM_TITLES[f["form_type"]][1] for f in rec.forms],
        "submitted_at": [int((f["submitted_at"] - dt.datetime(1970, 1, 1)).total_seconds() * 1000) for f in rec.forms],
        "page_url": [_utm_url(FORM_TITLES[f["form_type"]][2], f["utm"]) for f in rec.forms],
    })
    touches = pd.DataFrame({
        "event_id": [t["event_id"] for t in rec.touches],
        "contact_id": [t["contact_id"] for t in rec.touches],
        "occurred_at": _iso([t["occurred_at"] for t in rec.touches]),
        "event_type": [t["event_type"] for t in rec.touches],
        "utm_source": [t["utm"][0] for t in rec.touches],
        "utm_medium": [t["utm"][1] for t in rec.touches],
        "utm_campaign": [t["utm"][2] for t in rec.touches],
    })
    meetings = pd.DataFrame({
        "hs_object_id": [m["hs_object_id"] for m in rec.meetings],
        "hs_meeting_title": ["Live demo" if m["type"] == "live_demo" else "On-demand product tour" for m in rec.meetings],
        "hs_activity_type": ["LIVE_DEMO" if m["type"] == "live_demo" else "VIDEO_DEMO" for m in rec.meetings],
        "hs_createdate": _iso([m["requested_at"] for m in rec.meetings]),
        "hs_meeting_start_time": _iso([m["start"] for m in rec.meetings]),
        "hs_meeting_outcome": [m["outcome"] for m in rec.meetings],
        "contact_id": [m["contact_id"] for m in rec.meetings],
    })
    return {"contacts": contacts, "companies": companies, "deals": deals, "form_submissions": forms,
            "touchpoints": touches, "meetings": meetings}
