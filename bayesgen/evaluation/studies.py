"""Replicate studies: how often each method's intervals cover the truth.

``coverage_study`` simulates ``replicates`` datasets from the model at the truth (one
vmapped computation) and refits every method on all of them at once, never a Python loop
over replicates: a frequentist estimator through
:func:`bayesgen.frequentist.fit_replicates` (one vmapped, jitted fit), a posterior method
through :func:`bayesgen.bayesian.sample_replicates` (every chain of every replicate in one
vmapped, compiled computation). Per method and parameter it reports the coverage of the
``level`` intervals (Wald, or equal-tailed credible) with its binomial standard error and
the exact binomial test of coverage = level, the bias of the estimate (MLE or posterior
mean), the RMSE, the mean interval width with its standard error, for posterior methods
how many replicates had an R-hat above 1.01, and the seconds the method took. These are
over every finite replicate (``finite``), so that a method's coverage is not flattered by
dropping the fits it flags. Each replicate also gets the verdict a single fit or posterior
would get: ``replicates ok`` counts those whose every check passed, ``coverage if ok`` is
the coverage among them, and ``why`` counts the failed checks by name (``"r_hat: 3,
importance_ess: 1"``): how often a user would be told not to trust the result. Where an
estimator's standard error is the parametric bootstrap (contrastive divergence always; any
estimator but a likelihood below 30 data, e.g. pseudo-likelihood on one lattice), its rows
have point-estimate columns only unless ``num_bootstrap`` >= 2: then every replicate is
refitted on that many datasets simulated at its estimate, all in one vmapped computation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from statistics import NormalDist

import jax
import numpy as np
import pandas as pd
from scipy.stats import binomtest

from bayesgen._io import JsonReport
from bayesgen.bayesian import driver as bayes_driver
from bayesgen.errors import IntractableNormalizerError, MethodError, check_counts
from bayesgen.evaluation.compare import _flat, _flat_columns, _records, _resolve, _symmetric
from bayesgen.frequentist import driver as freq_driver

__all__ = ["COVERAGE_SCHEMA", "CoverageStudy", "coverage_study"]

COVERAGE_SCHEMA = "bayesgen.coverage/1"


@dataclass
class CoverageStudy(JsonReport):
    """The result of :func:`coverage_study`: ``table`` (one row per method and parameter),
    ``skipped`` (``{method: reason}``), and what was studied."""

    table: pd.DataFrame
    skipped: dict
    model: str
    n: int
    replicates: int
    level: float
    truth: dict

    def to_dict(self) -> dict:
        rows = _records(self.table)
        return {
            "schema": COVERAGE_SCHEMA,
            "model": self.model,
            "n": self.n,
            "replicates": self.replicates,
            "level": self.level,
            "truth": self.truth,
            "rows": rows,
            "skipped": self.skipped,
        }


def coverage_study(
    model,
    truth,
    methods,
    *,
    n: int,
    replicates: int,
    key=None,
    level: float = 0.95,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    num_bootstrap: int = 0,
    on_result=None,
) -> CoverageStudy:
    """Coverage, bias, RMSE and interval width of ``methods`` over ``replicates`` datasets
    of ``n`` data simulated at ``truth`` (see the module docstring). ``num_warmup``,
    ``num_samples`` and ``num_chains`` are per replicate, for posterior methods;
    ``num_bootstrap``: refits per replicate where the standard error is the bootstrap
    (0: none, those rows get no intervals; it costs replicates x num_bootstrap fits).
    ``on_result(method, result, seconds)`` is called as each method finishes, with its
    replicate results (None when it was skipped), as :func:`bayesgen.compare` does.

    Raises:
      MethodError: an unknown method, or bad sizes.
    """
    check_counts(n=(n, 1), replicates=(replicates, 2))
    check_counts(
        num_warmup=(num_warmup, 0), num_samples=(num_samples, 1), num_chains=(num_chains, 1)
    )
    if not 0 < level < 1:
        raise MethodError(f"level must be in (0, 1); got {level}")
    resolved = [(m, *_resolve(m)) for m in methods]  # unknown names fail before any work
    truth = model.check_params(truth)
    key = jax.random.key(0) if key is None else key
    k_data, k_fit = jax.random.split(key)
    datasets = freq_driver._simulate(model, truth, int(n), jax.random.split(k_data, replicates))
    sym = _symmetric(model)
    truth_flat = _flat(truth, sym)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    rows, skipped = [], {}
    for i, (_, side, method) in enumerate(resolved):
        try:
            method.check(model)
        except (MethodError, IntractableNormalizerError) as err:
            skipped[method.name] = str(err)
            if on_result is not None:
                on_result(method.name, None, 0.0)
            continue
        k = jax.random.fold_in(k_fit, i)
        t0 = time.perf_counter()
        if side == "bayesian":
            reps = bayes_driver.sample_replicates(
                model,
                datasets,
                method,
                key=k,
                num_warmup=num_warmup,
                num_samples=num_samples,
                num_chains=num_chains,
            )
            finite = reps.finite
            estimates = _flat_columns(reps.mean(), sym, batch_ndim=1)
            bounds = reps.interval(level)
            lows = _flat_columns({p: b[0] for p, b in bounds.items()}, sym, batch_ndim=1)
            highs = _flat_columns({p: b[1] for p, b in bounds.items()}, sym, batch_ndim=1)
            unconverged = int(np.sum(reps.r_hat[finite] > 1.01))
        else:
            reps = freq_driver.fit_replicates(
                model, datasets, method, key=k, num_bootstrap=num_bootstrap
            )
            jax.block_until_ready(reps.params)
            finite = np.asarray(reps.failed_step) < 0
            estimates = _flat_columns(reps.params, sym, batch_ndim=1)
            stderrs = _flat_columns(reps.stderr, sym, batch_ndim=1)
            lows = {p: estimates[p] - z * stderrs[p] for p in estimates}
            highs = {p: estimates[p] + z * stderrs[p] for p in estimates}
            unconverged = None
        seconds = time.perf_counter() - t0
        if on_result is not None:
            on_result(method.name, reps, seconds)
        ok = reps.ok[finite]  # each finite replicate's own verdict
        why = _failed_checks([c for c, f in zip(reps.diagnostics, finite, strict=True) if f])
        for p, target in truth_flat.items():
            est, lo, hi = estimates[p][finite], lows[p][finite], highs[p][finite]
            row = {"method": method.name, "side": side, "parameter": p, "truth": target}
            row["finite"] = int(finite.sum())
            row["replicates ok"] = int(ok.sum())
            row["bias"] = float(np.mean(est - target))
            row["bias se"] = float(np.std(est, ddof=1) / np.sqrt(est.size))
            row["rmse"] = float(np.sqrt(np.mean((est - target) ** 2)))
            if np.all(np.isfinite(lo) & np.isfinite(hi)) and est.size:
                covered = int(np.sum((lo <= target) & (target <= hi)))
                row["coverage"] = covered / est.size
                row["coverage se"] = float(np.sqrt(level * (1 - level) / est.size))
                row["binomial p"] = float(binomtest(covered, est.size, level).pvalue)
                row["mean width"] = float(np.mean(hi - lo))
                row["width se"] = float(np.std(hi - lo, ddof=1) / np.sqrt(est.size))
                inside = (lo[ok] <= target) & (target <= hi[ok])
                row["coverage if ok"] = float(np.mean(inside)) if ok.any() else np.nan
            else:
                row["coverage"] = row["coverage se"] = np.nan
                row["binomial p"] = row["mean width"] = row["width se"] = np.nan
                row["coverage if ok"] = np.nan
            row["r-hat > 1.01"] = np.nan if unconverged is None else unconverged
            row["why"] = why
            row["seconds"] = seconds
            rows.append(row)
    return CoverageStudy(
        table=pd.DataFrame(rows),
        skipped=skipped,
        model=repr(model),
        n=int(n),
        replicates=int(replicates),
        level=level,
        truth=truth_flat,
    )


def _failed_checks(diagnostics: list) -> str:
    """How many replicates failed each check, e.g. ``"r_hat: 3, ess: 1"`` ("" when none)."""
    counts: dict[str, int] = {}
    for checks in diagnostics:
        for name, check in checks.items():
            if not check.passed:
                counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name}: {k}" for name, k in counts.items())
