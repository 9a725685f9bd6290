"""Honest verdicts: each result's checks, and the verdict that is their conjunction.

A result of either side (:class:`bayesgen.FitResult`, :class:`bayesgen.PosteriorResult`)
carries a dict of :class:`Check`: the optimiser's convergence or the chains' R-hat and ESS,
standard errors that are finite and non-zero, and each method's own diagnostics (Monte
Carlo MLE's importance weights and reference chains, NCE's classifier accuracy). Its
verdict (``ok``) holds when every check passes; ``why`` says, in words, which did not and
what to do. The comparison table's ``ok`` and ``why`` columns are these.

Shared by both sides (neither imports the other), so it lives below them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from bayesgen.tables import flat

__all__ = ["ZERO_SE", "Check", "checks_by_name", "stderr_check", "verdict", "verdicts"]

ZERO_SE = float(np.sqrt(np.finfo(np.float64).eps))


class Check(NamedTuple):
    """One diagnostic of a result.

    Attributes:
      name: what is checked (``"optimizer"``, ``"stderr"``, ``"r_hat"``, ...).
      passed: whether the result is trustworthy on this count.
      value: the number measured (NaN where none applies).
      detail: what was measured, in words; for a failure, also why it matters and what to do.
    """

    name: str
    passed: bool
    value: float
    detail: str


def checks_by_name(checks: Iterable[Check]) -> dict[str, Check]:
    """``{check.name: check}``, in order."""
    return {c.name: c for c in checks}


def verdict(checks: Mapping[str, Check]) -> tuple[bool, str]:
    """``(every check passed, the failed checks' details joined by "; ")``."""
    failed = [c.detail for c in checks.values() if not c.passed]
    return not failed, "; ".join(failed)


def verdicts(checks: Iterable[Mapping[str, Check]]) -> tuple[np.ndarray, list[str]]:
    """:func:`verdict` of each replicate's checks: ``(ok as a bool array, why per
    replicate)``."""
    pairs = [verdict(c) for c in checks]
    return np.array([ok for ok, _ in pairs], bool), [why for _, why in pairs]


def stderr_check(
    stderr: Mapping[str, np.ndarray],
    how: str,
    n: int,
    params: Mapping | None = None,
    *,
    bootstrap: bool = False,
) -> Check:
    """Every standard error finite and positive (above rounding, relative to ``params``'
    magnitude where given): a zero (a sandwich over one datum, a Monte Carlo error without
    the data's, bootstrap refits that all land on one point) or a NaN makes a zero-width or
    missing interval. ``how`` says where they came from, in words; ``bootstrap``: they are
    the spread of refits (whose advice differs: the refits themselves collapsed)."""
    flat_se = flat(stderr)
    estimates = flat(params) if params is not None else {}
    # Zero up to rounding: a standard error below sqrt(eps) of the estimate's scale (1.5e-8
    # in float64) is a zero-width interval, whatever its last bits say.
    bad = {
        k: v
        for k, v in flat_se.items()
        if not (math.isfinite(v) and v > ZERO_SE * max(1.0, abs(estimates.get(k, 0.0))))
    }
    smallest = min(flat_se.values(), default=math.nan)
    if not bad:
        return Check("stderr", True, smallest, f"standard errors from the {how}, all > 0")
    shown = ", ".join(f"{k} = {v:.3g}" for k, v in list(bad.items())[:3])
    if bootstrap:  # every refit landed on one point
        advice = (
            "the data simulated at the estimate all fit to one point (a degenerate or "
            "ordered fit: check the estimate itself)"
        )
    else:
        advice = (
            "use uncertainty='bootstrap' (or 'observed_information' for a likelihood estimator)"
        )
    return Check(
        "stderr",
        False,
        smallest,
        f"standard errors from the {how} over n = {n} are not usable ({shown}): a zero-width "
        f"or missing interval; {advice}",
    )
