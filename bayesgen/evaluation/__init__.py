"""The evaluation layer: methods from both sides on the same data, side by side."""

from bayesgen.evaluation.compare import JSON_SCHEMA, Comparison, applicable_methods, compare

__all__ = ["JSON_SCHEMA", "Comparison", "applicable_methods", "compare"]
