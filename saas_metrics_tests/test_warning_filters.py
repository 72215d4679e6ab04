"""The test run's warning filters (pyproject.toml): a DeprecationWarning that our own code
triggers fails the test; one that Dagster or GX raise inside themselves is shown, not hidden.

Python attributes a warning to the module of the frame it points at (``stacklevel``): a library
that warns about a deprecated call points at its caller, so calling a deprecated API from
``saas_metrics`` is attributed to ``saas_metrics``.
"""

from __future__ import annotations

import warnings

import pytest


def _warn_from(module: str, message: str) -> None:
    """``warnings.warn(message, DeprecationWarning)`` as if issued by code of ``module``."""
    code = compile(f"import warnings\nwarnings.warn({message!r}, DeprecationWarning)\n", f"<{module}>", "exec")
    exec(code, {"__name__": module})


def test_a_deprecation_warning_from_our_package_is_an_error() -> None:
    with pytest.raises(DeprecationWarning, match="old call"):
        _warn_from("saas_metrics.defs.jobs", "old call")


@pytest.mark.parametrize("module", ["dagster._core.definitions.asset_job", "great_expectations.core.batch"])
def test_a_deprecation_warning_of_dagster_or_gx_is_shown_not_raised(module: str) -> None:
    with warnings.catch_warnings(record=True) as caught:  # keeps the configured filters, records what passes
        _warn_from(module, f"{module} will change")
    assert [(w.category, str(w.message)) for w in caught] == [(DeprecationWarning, f"{module} will change")]
