"""What a validation needs besides the frame: the table, its window and the run's inputs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from saas_metrics.config import QualityPolicy

if TYPE_CHECKING:  # replay's findings are worded with a context: a run-time import would be a cycle
    from saas_metrics.quality.companion import GXCompanion
    from saas_metrics.quality.replay import ValidationStore


@dataclass(frozen=True)
class ValidationContext:
    """Everything a validation needs besides the frame.

    ``window_end`` is exclusive; both window bounds are None for snapshots.
    ``reference_ids`` maps a reference name (``customer_id``, ``subscription_id``,
    ``contact_id``, ...; see ``suites.SUITES[...].references``) to the ids that exist.
    ``existing_ids`` are ids already stored in OTHER partitions of the same table.
    """

    table: str
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    known_currencies: frozenset[str] = frozenset()
    reference_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    previous_row_count: int | None = None
    existing_ids: frozenset[str] = frozenset()
    policy: QualityPolicy = field(default_factory=QualityPolicy)
    data_docs_dir: Path | None = None
    #: Problems the source reader found with the files' columns, e.g. "billing/invoices.csv lacks
    #: required column(s) total (rule required_column)": each fails the blocking schema check.
    source_problems: tuple[str, ...] = ()
    #: Ids of parent rows that exist but were themselves quarantined (reference name -> ids).
    #: A child pointing at one is quarantined too, but it is a consequence of a bad parent,
    #: not a sign of an incomplete parent table, so it does not count towards
    #: ``QualityPolicy.unresolved_max_fraction``.
    quarantined_reference_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Where full validations are kept and replayed from (None: always validate in full), and the
    #: Dagster run that validates (a validation is stored only with it).
    stored_validations: ValidationStore | None = field(default=None, compare=False, repr=False)
    run_id: str | None = None
    #: The run's GX companion process, which validates and renders Data Docs on the other core
    #: (:mod:`saas_metrics.quality.companion`); None: GX runs in this process.
    companion: GXCompanion | None = field(default=None, compare=False, repr=False)

    @property
    def has_window(self) -> bool:
        return self.window_start is not None and self.window_end is not None
