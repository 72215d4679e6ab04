"""The benchmark (issue #8): ``saas-metrics bench`` -> :func:`main` / :func:`run_benchmark`."""

from saas_metrics.bench.harness import BackendResult, BenchReport, main, run_benchmark

__all__ = ["BackendResult", "BenchReport", "main", "run_benchmark"]
