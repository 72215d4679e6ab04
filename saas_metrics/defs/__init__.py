"""Dagster wiring: assets, checks, jobs, schedules and sensors around the pure code."""

import warnings

import dagster as dg

# Single-run backfill policies and partition mappings that tolerate a missing first
# M-1 are marked beta in Dagster 1.13; they are central here, so the warning is noise.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
