"""Masking of personal data in check samples."""

from __future__ import annotations

import math

from saas_metrics.quality.sanitise import sanitise_sample, sanitise_value


def test_emails_and_names_are_masked_ids_and_numbers_pass() -> None:
    assert sanitise_value("ann.lee+x@example.co.uk") == "<email>"
    assert sanitise_value("contact Jane Doe now") == "contact <name> now"
    assert sanitise_value("cus_0042") == "cus_0042"
    assert sanitise_value("XXX") == "XXX"
    assert sanitise_value(-12.5) == -12.5
    assert sanitise_value(math.nan) is None
    assert sanitise_value({"a": "bob@x.io", "b": 3}) == {"a": "<email>", "b": 3}


def test_pii_columns_are_masked_whole_and_samples_are_capped() -> None:
    assert sanitise_value("Acme", pii=True) == "<pii>"
    assert sanitise_sample([f"id_{i}" for i in range(9)]) == ["id_0", "id_1", "id_2", "id_3", "id_4"]
