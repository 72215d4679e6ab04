"""The expectation suite of one table variant as plain data (no GX import).

:func:`suite_spec` lists the expectations a table's :class:`~saas_metrics.quality.suites.TableRules`
stand for, each as a GX expectation class name, its keyword arguments and a ``meta`` naming the
rule and column. :mod:`saas_metrics.quality.gx_context` turns the list into a GX suite;
:mod:`saas_metrics.quality.replay` hashes its JSON (:func:`suite_definition`) to know whether a
stored validation still applies, without importing GX.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from saas_metrics.quality.suites import TableRules, rules_for

PARSE_ERRORS_COLUMN = "_parse_errors"


@dataclass(frozen=True)
class SuiteVariant:
    """Which optional rules are active for one validation (they need run inputs)."""

    table: str
    window: bool
    currency: bool

    @property
    def suite_name(self) -> str:
        parts = [self.table]
        if self.window:
            parts.append("window")
        if self.currency:
            parts.append("currency")
        return "+".join(parts)


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: the ``great_expectations.expectations`` class, its kwargs and meta."""

    gx_class: str
    kwargs: dict[str, Any]
    meta: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"class": self.gx_class, "kwargs": self.kwargs, "meta": self.meta}


def _meta(rule: str, column: str) -> dict[str, str]:
    return {"rule": rule, "column": column}


def _parameter(name: str) -> dict[str, str]:
    """A suite parameter (``$PARAMETER``): the value is given per validation."""
    return {"$PARAMETER": name}


def _value_rules(rules: TableRules, variant: SuiteVariant) -> list[ExpectationSpec]:
    out = [
        ExpectationSpec("ExpectColumnValuesToBeInSet", {"column": c, "value_set": list(values)}, _meta("allowed_values", c))
        for c, values in rules.allowed_values.items()
    ]
    if variant.currency:
        out += [
            ExpectationSpec(
                "ExpectColumnValuesToBeInSet",
                {"column": c, "value_set": _parameter("known_currencies")},
                {**_meta("allowed_values", c), "currency": "true"},
            )
            for c in rules.currency_columns
        ]
    out += [
        ExpectationSpec("ExpectColumnValuesToMatchRegex", {"column": c, "regex": p}, _meta("allowed_values", c))
        for c, p in rules.patterns.items()
    ]
    return out


def _bound_rules(rules: TableRules, variant: SuiteVariant) -> list[ExpectationSpec]:
    between = "ExpectColumnValuesToBeBetween"
    out = [ExpectationSpec(between, {"column": c, "min_value": 0}, _meta("non_negative", c)) for c in rules.non_negative]
    out += [
        ExpectationSpec(between, {"column": c, "min_value": 0, "strict_min": True}, _meta("positive", c))
        for c in rules.positive
    ]
    out += [
        ExpectationSpec(between, {"column": c, "min_value": low, "max_value": high}, _meta("range", c))
        for c, (low, high) in rules.ranges.items()
    ]
    if variant.window and rules.time_column:
        window = {"min_value": _parameter("window_start"), "max_value": _parameter("window_end"), "strict_max": True}
        out.append(ExpectationSpec(between, {"column": rules.time_column, **window}, _meta("in_window", rules.time_column)))
    out += [
        ExpectationSpec(between, {"column": c, "max_value": _parameter("now")}, _meta("not_future", c))
        for c in rules.not_future
    ]
    return out


@cache
def suite_spec(variant: SuiteVariant) -> tuple[ExpectationSpec, ...]:
    """The expectations of one table variant, in suite order, each tagged with meta rule/column."""
    rules = rules_for(variant.table)
    out = [ExpectationSpec("ExpectColumnValuesToBeNull", {"column": PARSE_ERRORS_COLUMN}, _meta("unparseable", PARSE_ERRORS_COLUMN))]
    out += [ExpectationSpec("ExpectColumnValuesToNotBeNull", {"column": c}, _meta("not_null", c)) for c in rules.not_null]
    if len(rules.key) == 1:
        out.append(ExpectationSpec("ExpectColumnValuesToBeUnique", {"column": rules.key[0]}, _meta("duplicate", rules.key[0])))
    elif rules.key:
        out.append(
            ExpectationSpec("ExpectCompoundColumnsToBeUnique", {"column_list": list(rules.key)}, _meta("duplicate", ",".join(rules.key)))
        )
    return (*out, *_value_rules(rules, variant), *_bound_rules(rules, variant))


@cache
def suite_definition(variant: SuiteVariant) -> str:
    """The suite as canonical JSON: name and every expectation (class, kwargs, meta), in order."""
    body = {"name": variant.suite_name, "expectations": [e.as_json() for e in suite_spec(variant)]}
    return json.dumps(body, sort_keys=True, default=str)


@cache
def suite_columns(variant: SuiteVariant) -> tuple[str, ...]:
    """The frame columns the variant's expectations read, in first-use order."""
    columns: dict[str, None] = {}
    for spec in suite_spec(variant):
        kwargs = spec.kwargs
        for name in ([kwargs["column"]] if "column" in kwargs else []) + list(kwargs.get("column_list", [])):
            columns[name] = None
    return tuple(columns)
