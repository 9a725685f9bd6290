"""The exception hierarchy of bayesgen.

Every error the package raises on purpose is a :class:`BayesgenError`, so callers (and the
CLI) can catch one type. Messages say what was wrong and what to do instead.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BayesgenError",
    "DataError",
    "IntractableNormalizerError",
    "MethodError",
    "ModelError",
    "ParameterError",
]


class BayesgenError(Exception):
    """Base class of every error raised by bayesgen."""


class DataError(BayesgenError, ValueError):
    """Data outside the model's support, of the wrong shape, or not finite."""


class ParameterError(BayesgenError, ValueError):
    """Parameters with missing or unknown names, wrong shapes, or values outside their domain."""


class ModelError(BayesgenError, ValueError):
    """A model defined so that it cannot work (no support, a prior of the wrong shape or
    outside its parameter's domain, a log-density that is not a scalar); raised when the
    model is made, naming the fix."""


class IntractableNormalizerError(BayesgenError):
    """The model has no exact way to compute log Z(θ) at this size.

    Raised by ``log_normalizer`` (and by every method that needs an exact Z); use a method that
    avoids or estimates the normaliser instead.
    """


class MethodError(BayesgenError, ValueError):
    """An unknown method name, or a method that cannot apply to this model."""


def check_counts(**counts: tuple) -> None:
    """Raise :class:`MethodError` unless every ``name=(value, lowest)`` is an integer (not
    a bool) at least ``lowest``: the sizes every driver takes (draws, chains, particles)."""
    for name, (value, low) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise MethodError(f"{name} must be an integer >= {low}; got {value!r}")


def resolve_method(method, base: type, registry: dict, side: str):
    """A method object from a string alias of ``registry``, an ``(alias, {option: value})``
    pair (the configured method ``registry[alias](**options)``: how the model zoo names its
    fits without importing a side), or an instance of ``base``."""
    if isinstance(method, base):
        return method
    if isinstance(method, str) and method in registry:
        return registry[method]()
    if (
        isinstance(method, tuple)
        and len(method) == 2
        and isinstance(method[0], str)
        and method[0] in registry
        and isinstance(method[1], dict)
    ):
        alias, options = method
        try:
            return registry[alias](**options)
        except TypeError as e:
            raise MethodError(f"{side} method {alias!r} does not take these options: {e}") from None
    raise MethodError(f"unknown {side} method {method!r}; available: {', '.join(sorted(registry))}")


def unsupported(method, model, why: str, instead: str) -> MethodError:
    """The error of a method (either side) that does not apply to ``model``."""
    return MethodError(f"{method.name} does not apply to {model!r}: {why}; use {instead}")
