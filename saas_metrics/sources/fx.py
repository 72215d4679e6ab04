"""FX rates (fx/rates.csv: date, currency, rate_to_usd = USD per unit) -> fx_rates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saas_metrics.sources import schemas as s
from saas_metrics.sources.files import open_native, upper

SYSTEM = "fx"


def read_rates(sources_dir: Path) -> pd.DataFrame:
    t = open_native(sources_dir, "fx/rates.csv", SYSTEM)
    if t is None:
        return s.FX_RATES.empty_frame()
    return t.finish({
        "date": t.date("date", "date"), "currency": upper(t.text("currency", "currency")),
        "rate_to_usd": t.number("rate_to_usd", "rate_to_usd"),
    }, s.FX_RATES)
