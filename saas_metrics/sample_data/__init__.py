"""Deterministic simulator of a SaaS company's source systems (native exports + ground truth)."""

from saas_metrics.sample_data.generator import (
    GROUND_TRUTH_DIR,
    NATIVE_FILES,
    GenerationSummary,
    generate,
)

__all__ = ["GROUND_TRUTH_DIR", "NATIVE_FILES", "GenerationSummary", "generate"]
