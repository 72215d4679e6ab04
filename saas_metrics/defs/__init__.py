"""Dagster wiring: assets, checks, jobs, schedules and sensors around the pure code."""
