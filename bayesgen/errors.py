"""The exception hierarchy of bayesgen.

Every error the package raises on purpose is a :class:`BayesgenError`, so callers (and the
CLI) can catch one type. Messages say what was wrong and what to do instead.
"""

from __future__ import annotations

__all__ = [
    "BayesgenError",
    "DataError",
    "IntractableNormalizerError",
    "MethodError",
    "ParameterError",
]


class BayesgenError(Exception):
    """Base class of every error raised by bayesgen."""


class DataError(BayesgenError, ValueError):
    """Data outside the model's support, of the wrong shape, or not finite."""


class ParameterError(BayesgenError, ValueError):
    """Parameters with missing or unknown names, wrong shapes, or values outside their domain."""


class IntractableNormalizerError(BayesgenError):
    """The model has no exact way to compute log Z(θ) at this size.

    Raised by ``log_normalizer`` (and by every method that needs an exact Z); use a method that
    avoids or estimates the normaliser instead.
    """


class MethodError(BayesgenError, ValueError):
    """An unknown method name, or a method that cannot apply to this model."""


def unsupported(method, model, why: str, instead: str) -> MethodError:
    """The error of a method (either side) that does not apply to ``model``."""
    return MethodError(f"{method.name} does not apply to {model!r}: {why}; use {instead}")
