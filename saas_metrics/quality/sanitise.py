"""Masking of personal data in samples shown in check metadata and the UI.

Ids, codes and numbers pass through; anything that looks like an email address
or a personal name (two or more capitalised words, e.g. ``Jane Doe``) is masked,
and so is every value of a column the canonical schema marks as PII.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PERSONAL_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ '\-][A-Z][a-z]+)+\b")
EMAIL_MASK = "<email>"
NAME_MASK = "<name>"
PII_MASK = "<pii>"


def mask_text(text: str) -> str:
    """``text`` with emails and personal-name-like word pairs masked."""
    return PERSONAL_NAME.sub(NAME_MASK, EMAIL.sub(EMAIL_MASK, text))


def sanitise_value(value: Any, *, pii: bool = False) -> Any:
    """A JSON-able, masked version of one sample value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, dict):
        return {str(k): sanitise_value(v, pii=pii) for k, v in value.items()}
    if pii:
        return PII_MASK
    if isinstance(value, bool | int | float):
        return value
    return mask_text(str(value))


def pii_columns(columns: Iterable[Any]) -> frozenset[str]:
    """The names of the schema columns whose description marks them as personal data ("PII")."""
    return frozenset(c.name for c in columns if "PII" in c.description)


def sanitise_sample(values: list[Any], *, pii: bool = False, limit: int = 5) -> list[Any]:
    """At most ``limit`` masked sample values."""
    return [sanitise_value(v, pii=pii) for v in list(values)[:limit]]
