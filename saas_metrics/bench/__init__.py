"""The benchmark: ``saas-metrics bench`` -> :func:`main` / :func:`run_benchmark` (docs/benchmark.md)."""

from saas_metrics.bench.harness import BackendResult, BenchReport, main, run_benchmark

__all__ = ["BackendResult", "BenchReport", "main", "run_benchmark"]
