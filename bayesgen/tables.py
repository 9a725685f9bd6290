"""Parameters as table columns: the labels every report of both sides and the evaluation
layer uses (``"beta"``, ``"mu[0]"``, ``"precision[0,1]"``), and rows as JSON records.

Public helpers, so that reports written by users (a sweep of their own, a notebook) label
parameters as bayesgen's tables do.
"""

from __future__ import annotations

import math

import numpy as np
from numpyro.distributions import constraints

__all__ = ["flat", "flat_columns", "records", "symmetric_params"]


def flat_columns(params: dict, symmetric=(), batch_ndim: int = 0) -> dict:
    """``{"beta": ..., "mu[0]": ...}``: every scalar of every parameter (the upper triangle
    of the symmetric matrices named in ``symmetric``), each an array of the leading
    ``batch_ndim`` axes (replicates, say)."""
    out = {}
    for name, value in params.items():
        arr = np.asarray(value, dtype=float)
        for idx in np.ndindex(arr.shape[batch_ndim:]):
            if name in symmetric and idx[-2] > idx[-1]:
                continue
            label = f"{name}[{','.join(map(str, idx))}]" if idx else name
            out[label] = arr[(Ellipsis, *idx)] if idx else arr
    return out


def flat(params: dict, symmetric=()) -> dict[str, float]:
    """:func:`flat_columns` of one set of parameters, as floats."""
    return {k: float(v) for k, v in flat_columns(params, symmetric).items()}


def records(table) -> list:
    """The rows of a pandas ``table`` as dicts, NaN as None (JSON null)."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in table.to_dict(orient="records")
    ]


def symmetric_params(model) -> set:
    """The names of ``model``'s symmetric-matrix parameters (positive definite), whose
    tables show the upper triangle only."""
    return {s.name for s in model.params_spec if s.constraint is constraints.positive_definite}
