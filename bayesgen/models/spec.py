"""Models and their true parameters from their names and numbers, as the command line and
sweep grids spell them: ``ising`` of shape ``"4x4"`` with ``beta = 0.3``.

One parser for both: ``bayesgen compare --shape 4x4 --truth beta=0.3`` and a grid file's
``shape = "4x4"``, ``truth = {beta = 0.3}`` build the same model with the same truth.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

import numpy as np

from bayesgen.errors import ParameterError

__all__ = ["make_model", "method_spec", "parse_shape", "shape_text", "truth_params"]


def parse_shape(text: str | int | None, what: str = "--shape") -> tuple[int, ...] | None:
    """``"4x4"`` -> ``(4, 4)``, ``"3"`` or ``3`` -> ``(3,)``; None stays None (the model's
    default). ``what`` names the input in the error."""
    if text is None:
        return None
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ParameterError(f"{what} must look like 4x4 or 3; got {text!r}")
    try:
        shape = tuple(int(part) for part in str(text).lower().split("x"))
    except ValueError:
        raise ParameterError(f"{what} must look like 4x4 or 3; got {text!r}") from None
    if any(s < 1 for s in shape):
        raise ParameterError(f"{what} sides must be positive; got {text!r}")
    return shape


def shape_text(shape: tuple[int, ...] | None) -> str | None:
    """The inverse of :func:`parse_shape`: ``(4, 4)`` -> ``"4x4"``."""
    return None if shape is None else "x".join(str(s) for s in shape)


def make_model(
    name: str, shape: tuple[int, ...] | None, truth_names: Iterable[str] = (), **options
):
    """The model ``name`` of :data:`bayesgen.models.REGISTRY` at ``shape`` (None: its
    default), for a truth naming ``truth_names`` (an Ising truth naming ``beta`` alone is the
    zero-field model). ``options`` (``terms``, and from observed data ``num_nodes`` and
    ``nodes``) go to the models whose ``from_cli`` takes them; ``terms`` for a model that
    takes none is an error."""
    from bayesgen.models import REGISTRY

    if not isinstance(name, str) or name not in REGISTRY:
        raise ParameterError(f"unknown model {name!r}; `bayesgen models` lists {sorted(REGISTRY)}")
    takes = inspect.signature(REGISTRY[name].from_cli).parameters
    if options.get("terms") is not None and "terms" not in takes:
        raise ParameterError(f"--terms is for ergm; {name} takes no terms")
    given = {k: v for k, v in options.items() if v is not None and k in takes}
    return REGISTRY[name].from_cli(shape, list(truth_names), **given)


def _numbers(value, what: str):
    """``value`` (a number or a nested list of numbers) as a float array, or one line."""

    def bad(v):
        return isinstance(v, bool) or not isinstance(v, int | float | list | tuple)

    stack = [value]
    while stack:
        v = stack.pop()
        if bad(v):
            raise ParameterError(f"{what}: {value!r} is not a number")
        if isinstance(v, list | tuple):
            stack.extend(v)
    try:
        return np.asarray(value, dtype=float)
    except ValueError:  # ragged
        raise ParameterError(f"{what}: {value!r} is not a number or a rectangular list") from None


def truth_params(values: Mapping[str, object], model, what: str = "--truth") -> dict:
    """The model's ``default_truth`` updated by ``values`` (``{name: number or list}``),
    checked by ``model.check_params``. A number fills a vector, times the identity for a
    square matrix; a list of several numbers (or of lists) is the value itself. ``what``
    names the input in the errors."""
    import jax.numpy as jnp

    truth = {k: jnp.asarray(v) for k, v in getattr(model, "default_truth", {}).items()}
    specs = {p.name: p for p in model.params_spec}
    for name, value in values.items():
        if name not in specs:
            raise ParameterError(
                f"{what}: {model!r} has no parameter {name!r}; its parameters are "
                f"{', '.join(model.param_names)}"
            )
        arr = _numbers(value, f"{what} {name}")
        shape = specs[name].shape
        if arr.ndim == 0 or (arr.size == 1 and arr.ndim == 1):
            number = float(arr.reshape(()))
            if len(shape) == 2 and shape[0] == shape[1]:
                truth[name] = number * jnp.eye(shape[0])
            else:
                truth[name] = jnp.full(shape, number)
        else:
            truth[name] = jnp.asarray(arr)
    return model.check_params(truth)


def method_spec(name: str, model):
    """The method ``name`` as the model configures it: a name in the model's
    ``default_methods`` (the network energy's schedules) is that ``(alias, options)`` pair;
    any other name is itself."""
    configured = {m[0]: m for m in model.default_methods or () if isinstance(m, tuple)}
    return configured.get(name, name)
