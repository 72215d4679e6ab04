"""Deterministic fake company and person names (no external data)."""

from __future__ import annotations

import numpy as np

_PREFIXES = (
    "blue", "north", "bright", "swift", "iron", "silver", "green", "clear", "true", "prime", "nova", "apex",
    "cedar", "maple", "river", "stone", "summit", "polar", "sun", "lunar", "terra", "aqua", "urban", "vector",
    "pixel", "quant", "delta", "orbit", "atlas", "echo", "zen", "bold", "red", "open", "deep", "high",
)
_STEMS = (
    "peak", "wave", "forge", "leaf", "bridge", "path", "works", "labs", "logic", "stack", "cloud", "data",
    "flow", "point", "line", "grid", "spark", "field", "mind", "scale", "ware", "hub", "net", "craft",
)
_SUFFIXES = ("Analytics", "Software", "Systems", "Group", "Partners", "Digital", "Solutions", "Technologies", "Inc", "Health")
_TLDS = (".com", ".io", ".co", ".de", ".co.uk", ".fr", ".net")
_FIRST = (
    "anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "ines", "jack", "kate", "liam", "maria",
    "noah", "olivia", "paul", "quinn", "rosa", "sam", "tara", "uma", "victor", "wendy", "xavier", "yara", "zoe",
)
_LAST = (
    "smith", "muller", "garcia", "brown", "martin", "rossi", "jones", "schmidt", "dubois", "taylor", "novak",
    "wilson", "fischer", "moreau", "clark", "weber", "lopez", "evans", "bauer", "lewis", "walker", "young",
)
FREE_EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com")


def company_names(rng: np.random.Generator, n: int, tld_of_country: list[str] | None = None) -> tuple[list[str], list[str]]:
    """``n`` unique (name, domain) pairs. Domains are unique; a numeric suffix breaks ties."""
    pre = rng.integers(0, len(_PREFIXES), n)
    stem = rng.integers(0, len(_STEMS), n)
    suf = rng.integers(0, len(_SUFFIXES), n)
    tld = rng.integers(0, 3, n)
    names: list[str] = []
    domains: list[str] = []
    seen: dict[str, int] = {}
    for i in range(n):
        base = f"{_PREFIXES[pre[i]]}{_STEMS[stem[i]]}"
        count = seen.get(base, 0)
        seen[base] = count + 1
        label = base if count == 0 else f"{base}{count + 1}"
        ending = tld_of_country[i] if tld_of_country is not None else _TLDS[tld[i]]
        names.append(f"{label.capitalize()} {_SUFFIXES[suf[i]]}")
        domains.append(f"{label}{ending}")
    return names, domains


def person_names(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    return [_FIRST[i].capitalize() for i in first], [_LAST[i].capitalize() for i in last]


def email_local(first: str, last: str) -> str:
    return f"{first.lower()}.{last.lower()}"
