"""Why simulated customers cancel, recorded where real teams record it.

Every subscription canceled at period end gets a reason (the at-risk customers whose usage
collapsed mostly ``unused``, the others drawn from REASONS), recorded in one place:
about half in Stripe's ``cancellation_details`` (reason cancellation_requested + feedback),
a fifth as the HubSpot company's ``churn_reason`` property (customers with one subscription),
15 % in a hand-kept ``crm/churn_reasons.csv``, the rest nowhere (the pipeline's 'unknown').
Subscriptions canceled after a failed renewal carry Stripe's reason ``payment_failed``.
Uses its own random generator, so the other files stay as they were.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

REASONS = ("too_expensive", "missing_features", "switched_service", "unused", "customer_service", "too_complex", "other")
REASON_P = np.array([0.30, 0.20, 0.15, 0.15, 0.08, 0.07, 0.05])
#: how a person writes the reason in the hand-kept file
REASON_TEXT = {"too_expensive": "Too expensive", "missing_features": "Missing features", "switched_service": "Switched service",
               "unused": "Unused", "customer_service": "Customer service", "too_complex": "Too complex", "other": "Other"}
COMMENTS = {"too_expensive": "Budget cut for next year", "missing_features": "Needs an SSO audit log",
            "switched_service": "Moved to a competitor's bundle", "unused": "Team stopped logging in"}
_RECORDED_IN = ("stripe_feedback", "crm_company", "churn_reasons_file", "nowhere")
_RECORDED_P = np.array([0.50, 0.20, 0.15, 0.15])


def plant_churn_reasons(seed: int, subscriptions: pd.DataFrame, at_risk: pd.DataFrame, company_of: pd.Series,
                        horizon: dt.datetime) -> dict[str, pd.DataFrame | pd.Series]:
    """The planted reasons: ``stripe`` (subscription_id -> cancellation_details_{reason,feedback,comment}),
    ``company_reason`` (company_id -> churn_reason), ``file`` (the churn_reasons.csv frame) and
    ``truth`` (subscription_id, customer_id, ended_at, reason, recorded_in)."""
    rng = np.random.default_rng([seed, 25])
    subs = subscriptions[subscriptions["ended_at"].notna() & (pd.to_datetime(subscriptions["ended_at"]) < pd.Timestamp(horizon))]
    subs = subs.sort_values("subscription_id").reset_index(drop=True)
    voluntary = subs["cancel_at_period_end"].astype(bool).to_numpy()
    trial_end = pd.to_datetime(subs["trial_end"])
    trial_cancel = (trial_end.notna() & (trial_end == pd.to_datetime(subs["ended_at"]))).to_numpy()
    failed = ~voluntary & ~trial_cancel
    risky = subs["customer_id"].isin(set(at_risk["customer_id"])).to_numpy()
    drawn = np.array(REASONS, dtype=object)[rng.choice(len(REASONS), len(subs), p=REASON_P)]
    reason = np.where(risky & (rng.random(len(subs)) < 0.7), "unused", drawn)
    recorded = np.array(_RECORDED_IN, dtype=object)[rng.choice(len(_RECORDED_IN), len(subs), p=_RECORDED_P)]
    single = subs.groupby("customer_id")["subscription_id"].transform("size").eq(1).to_numpy()
    recorded = np.where((recorded == "crm_company") & ~single, "churn_reasons_file", recorded)
    recorded = np.where(voluntary, recorded, np.where(failed, "stripe_reason", "nowhere"))
    reason = np.where(failed, "payment_failed", reason)

    # numpy's stubs reject None as a fill value, which numpy takes (the result is an object array).
    feedback = np.where(recorded == "stripe_feedback", reason, None)  # type: ignore[call-overload]
    comment = [COMMENTS.get(r) if f is not None and rng.random() < 0.4 else None for r, f in zip(reason, feedback, strict=True)]
    stripe = pd.DataFrame({
        "cancellation_details_reason": np.where(failed, "payment_failed", "cancellation_requested"),
        "cancellation_details_feedback": feedback,
        "cancellation_details_comment": comment,
    }, index=subs["subscription_id"].to_numpy())
    in_company = recorded == "crm_company"
    company_reason = pd.Series(reason[in_company], index=subs["customer_id"][in_company].map(company_of).to_numpy()).dropna()
    in_file = recorded == "churn_reasons_file"
    ended = pd.to_datetime(subs["ended_at"])
    file = pd.DataFrame({
        "customer_id": subs["customer_id"][in_file].to_numpy(),
        "churned_at": ended[in_file].dt.strftime("%Y-%m-%d").to_numpy(),
        "reason": [REASON_TEXT[r] for r in reason[in_file]],
        "comment": [COMMENTS.get(r) for r in reason[in_file]],
    })
    truth = pd.DataFrame({
        "subscription_id": subs["subscription_id"], "customer_id": subs["customer_id"],
        "ended_at": ended.dt.strftime("%Y-%m-%d"),
        "reason": np.where(recorded == "nowhere", "unknown", reason), "recorded_in": recorded,
    })[voluntary | failed]
    return {"stripe": stripe, "company_reason": company_reason, "file": file, "truth": truth.reset_index(drop=True)}
