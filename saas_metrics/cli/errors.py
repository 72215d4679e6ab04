"""Errors the user can fix: one line and a hint (see ``main`` in app.py for how every
other failure is shown, through :mod:`saas_metrics.errors`)."""

from __future__ import annotations


class CliError(Exception):
    """An error the user can fix: printed as one line plus a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint
