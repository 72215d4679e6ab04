"""The one job: every asset for a month, or a month range as one single-run backfill.

The runner (saas_metrics/runner.py), the CLI and the schedules and sensors resolve it by
:data:`JOB_NAME` from the Definitions that :func:`saas_metrics.definitions.build_definitions`
builds.
"""

from __future__ import annotations

import dagster as dg

from saas_metrics.compat import UnresolvedAssetJobDefinition

JOB_NAME = "monthly_metrics_job"


def monthly_metrics_job() -> UnresolvedAssetJobDefinition:
    """Every asset of the code location, in one process (as the Definitions' default executor: a
    process per step would pay the imports per step). The job takes its monthly partitions from its
    assets (``partitions_def=`` on an asset job is deprecated in Dagster 1.13)."""
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.all(),
        description="Every asset for a month (or, as a single-run backfill, a range of months).",
        executor_def=dg.in_process_executor,
    )
