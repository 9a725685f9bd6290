"""The evaluation layer: methods from both sides on the same data, side by side."""

from bayesgen.evaluation.compare import JSON_SCHEMA, Comparison, applicable_methods, compare
from bayesgen.evaluation.ksd import kernel_stein_discrepancy, stein_kernel

__all__ = [
    "JSON_SCHEMA",
    "Comparison",
    "applicable_methods",
    "compare",
    "kernel_stein_discrepancy",
    "stein_kernel",
]
