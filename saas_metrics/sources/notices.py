"""What a source read has to say, collected per read: a file not found, columns missing, rows a
connector excluded by a rule.

The readers report these as warnings (``MissingColumnsWarning``, ``SourceFileMissing``,
``ExcludedRowsWarning``), and the steps turn them into notices, schema problems and excluded-row
counts. ``warnings.catch_warnings`` cannot collect them reliably: it swaps process-wide state (the
filter list and ``showwarning``) on entry and puts back what it saw on exit, so two threads that
use it at once undo each other. During a run they do: the CLI's main thread polls the run's events
while the run's thread reads (Dagster enters ``catch_warnings`` there on every poll), and the
landing cache's writer threads enter it inside pandas' ``to_parquet``. A notice could then land in
another block's list or nowhere (an excluded-row count lost), and the process could be left with a
block's filters (a test's warning filters silently replaced).

So a read collects its notices through a context variable (one per thread, and per task), and
:func:`notify` raises an ordinary warning only where no read is collecting, as before for a
reader called directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_COLLECTED: ContextVar[list[warnings.WarningMessage] | None] = ContextVar("saas_metrics_read_notices", default=None)


@contextmanager
def collecting_notices() -> Iterator[list[warnings.WarningMessage]]:
    """Collect the :func:`notify` calls of this thread (or task) during the block, in order, as
    ``warnings.WarningMessage`` (``.message`` is the warning instance, ``.category`` its class).
    Blocks nest: the innermost one collects."""
    collected: list[warnings.WarningMessage] = []
    token = _COLLECTED.set(collected)
    try:
        yield collected
    finally:
        _COLLECTED.reset(token)


def notify(message: Warning | str, category: type[Warning] = UserWarning, *, stacklevel: int = 1) -> None:
    """Report ``message`` to the read collecting notices, or raise it as a warning when none is
    (``stacklevel`` as for ``warnings.warn``, counted from the caller of this function)."""
    if isinstance(message, Warning):
        category = type(message)
    collected = _COLLECTED.get()
    if collected is None:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
        return
    instance = message if isinstance(message, Warning) else category(message)
    collected.append(warnings.WarningMessage(instance, category, "", 0))
