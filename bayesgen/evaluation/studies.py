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

import json
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import jax
import numpy as np
import pandas as pd
from scipy.stats import binomtest

from bayesgen._io import JsonReport, atomic_write_json
from bayesgen._keys import key_data
from bayesgen.bayesian import driver as bayes_driver
from bayesgen.errors import IntractableNormalizerError, MethodError, check_counts
from bayesgen.evaluation.compare import resolve
from bayesgen.frequentist import driver as freq_driver
from bayesgen.tables import flat, flat_columns, records, symmetric_params

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
        rows = records(self.table)
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
    out=None,
    chunk_size: int | None = None,
    devices=None,
) -> CoverageStudy:
    """Coverage, bias, RMSE and interval width of ``methods`` over ``replicates`` datasets
    of ``n`` data simulated at ``truth`` (see the module docstring). ``num_warmup``,
    ``num_samples`` and ``num_chains`` are per replicate, for posterior methods;
    ``num_bootstrap``: refits per replicate where the standard error is the bootstrap
    (0: none, those rows get no intervals; it costs replicates x num_bootstrap fits).
    ``on_result(method, replicates, seconds)`` is called as each method finishes, with its
    per-replicate values (``estimate``, ``low`` and ``high`` by parameter, ``finite``,
    ``ok``, ``failed`` checks, ``r_hat``; None when it was skipped), as
    :func:`bayesgen.compare` does.

    A long study can be resumed: with ``out`` (a folder) each method's replicates are
    computed in chunks of ``chunk_size`` (default: all at once), every chunk written there
    atomically as it finishes (``METHOD.A-B.json``, with the study's configuration), and a
    rerun with the same arguments reads the chunks it finds instead of recomputing them, so
    an interruption loses at most one chunk. Every replicate has the key and dataset it has
    without chunks. A damaged chunk is recomputed; one written by a study of another
    configuration raises, so that results are never mixed.

    Every method's replicates are spread over ``devices`` (every local device by default; a
    count or a list of devices restricts them): the fits and draws do not depend on the
    number of devices beyond floating-point rounding, and ``device`` in each row names the
    devices used.

    Raises:
      MethodError: an unknown method, bad sizes, or ``out`` holding another study.
    """
    check_counts(n=(n, 1), replicates=(replicates, 2))
    check_counts(
        num_warmup=(num_warmup, 0), num_samples=(num_samples, 1), num_chains=(num_chains, 1)
    )
    if not 0 < level < 1:
        raise MethodError(f"level must be in (0, 1); got {level}")
    size = int(replicates) if chunk_size is None else chunk_size
    check_counts(chunk_size=(size, 1))
    resolved = [(m, *resolve(m)) for m in methods]  # unknown names fail before any work
    truth = model.check_params(truth)
    key = jax.random.key(0) if key is None else key
    k_data, k_fit = jax.random.split(key)
    datasets = model.sample_datasets(jax.random.split(k_data, replicates), truth, int(n))
    sym = symmetric_params(model)
    truth_flat = flat(truth, sym)
    config = {
        "model": repr(model),
        "truth": truth_flat,
        "n": int(n),
        "replicates": int(replicates),
        "key": np.asarray(key_data(key)).tolist(),
        "level": level,
        "num_warmup": int(num_warmup),
        "num_samples": int(num_samples),
        "num_chains": int(num_chains),
        "num_bootstrap": int(num_bootstrap),
    }
    rows, skipped = [], {}
    for i, (_, side, method) in enumerate(resolved):
        try:
            method.check(model)
        except (MethodError, IntractableNormalizerError) as err:
            skipped[method.name] = str(err)
            if on_result is not None:
                on_result(method.name, None, 0.0)
            continue
        keys = jax.random.split(jax.random.fold_in(k_fit, i), replicates)
        config_m = {**config, "method": repr(method), "position": i}
        chunks = []
        for a in range(0, replicates, size):
            b = min(a + size, replicates)
            path = None if out is None else Path(out) / f"{method.name}.{a}-{b}.json"
            chunk = _read_chunk(path, config_m)
            if chunk is None:
                t0 = time.perf_counter()
                chunk = _replicate_values(
                    model,
                    side,
                    method,
                    datasets[a:b],
                    keys[a:b],
                    sym,
                    level,
                    num_warmup=num_warmup,
                    num_samples=num_samples,
                    num_chains=num_chains,
                    num_bootstrap=num_bootstrap,
                    devices=devices,
                )
                chunk["seconds"] = time.perf_counter() - t0
                if path is not None:
                    atomic_write_json(path, {"config": config_m, **_jsonable(chunk)})
            chunks.append(chunk)
        values = _concatenate(chunks)
        seconds = sum(c["seconds"] for c in chunks)
        if on_result is not None:
            on_result(method.name, values, seconds)
        finite, ok = values["finite"], values["ok"][values["finite"]]
        why = _failed_checks([c for c, f in zip(values["failed"], finite, strict=True) if f])
        r_hat = values["r_hat"]
        unconverged = None if r_hat is None else int(np.sum(r_hat[finite] > 1.01))
        for p, target in truth_flat.items():
            est = values["estimate"][p][finite]
            lo, hi = values["low"][p][finite], values["high"][p][finite]
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
            row["device"] = values["device"]
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


def _replicate_values(model, side, method, datasets, keys, sym, level, **settings) -> dict:
    """Fit or sample every dataset (one key each): each replicate's estimate and interval
    per flat parameter, whether it is finite, its verdict and failed checks, its R-hat."""
    if side == "bayesian":
        reps = bayes_driver.sample_replicates(
            model,
            datasets,
            method,
            key=keys,
            num_warmup=settings["num_warmup"],
            num_samples=settings["num_samples"],
            num_chains=settings["num_chains"],
            devices=settings["devices"],
        )
        finite = reps.finite
        estimates = flat_columns(reps.mean(), sym, batch_ndim=1)
        bounds = reps.interval(level)
        lows = flat_columns({p: b[0] for p, b in bounds.items()}, sym, batch_ndim=1)
        highs = flat_columns({p: b[1] for p, b in bounds.items()}, sym, batch_ndim=1)
        r_hat = np.asarray(reps.r_hat, float)
    else:
        reps = freq_driver.fit_replicates(
            model,
            datasets,
            method,
            key=keys,
            num_bootstrap=settings["num_bootstrap"],
            devices=settings["devices"],
        )
        finite = np.asarray(reps.failed_step) < 0
        estimates = flat_columns(reps.params, sym, batch_ndim=1)
        stderrs = flat_columns(reps.stderr, sym, batch_ndim=1)
        z = NormalDist().inv_cdf(0.5 + level / 2)
        lows = {p: estimates[p] - z * stderrs[p] for p in estimates}
        highs = {p: estimates[p] + z * stderrs[p] for p in estimates}
        r_hat = None
    failed = [[name for name, c in checks.items() if not c.passed] for checks in reps.diagnostics]
    as_float = lambda d: {p: np.asarray(v, float) for p, v in d.items()}  # noqa: E731
    return {
        "estimate": as_float(estimates),
        "low": as_float(lows),
        "high": as_float(highs),
        "finite": np.asarray(finite, bool),
        "ok": np.asarray(reps.ok, bool),
        "failed": failed,
        "r_hat": r_hat,
        "device": reps.device,
    }


def _jsonable(chunk: dict) -> dict:
    """A chunk as JSON values (NaN kept as NaN, which the JSON reader reads back)."""

    def conv(v):
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v.tolist() if isinstance(v, np.ndarray) else v

    return conv(chunk)


def _read_chunk(path, config: dict) -> dict | None:
    """A finished chunk read back from ``path``; None when there is none or it is damaged
    (then it is recomputed). One of another study raises."""
    if path is None or not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        chunk = {k: doc[k] for k in (*_FIELDS, "seconds")}  # lists: _concatenate makes arrays
        stored = doc["config"]
    except (ValueError, KeyError, TypeError):
        return None
    if stored != json.loads(json.dumps(config)):
        differ = sorted(k for k in set(stored) | set(config) if stored.get(k) != config.get(k))
        raise MethodError(
            f"{path} was written by a study with other settings ({', '.join(differ)} "
            "differ); give this study another folder, or delete that one to start again"
        )
    return chunk


_FIELDS = ("estimate", "low", "high", "finite", "ok", "failed", "r_hat", "device")  # a chunk's


def _concatenate(chunks: list) -> dict:
    """The chunks of one method (computed, or read back as lists) joined along the
    replicates, as arrays."""
    first = chunks[0]
    out = {k: {p: np.concatenate([c[k][p] for c in chunks]) for p in first[k]} for k in _FIELDS[:3]}
    out["finite"] = np.concatenate([c["finite"] for c in chunks]).astype(bool)
    out["ok"] = np.concatenate([c["ok"] for c in chunks]).astype(bool)
    out["failed"] = [f for c in chunks for f in c["failed"]]
    out["r_hat"] = None if first["r_hat"] is None else np.concatenate([c["r_hat"] for c in chunks])
    out["device"] = ", ".join(dict.fromkeys(c["device"] for c in chunks))
    return out


def _failed_checks(failed: list) -> str:
    """How many replicates failed each check, e.g. ``"r_hat: 3, ess: 1"`` ("" when none),
    from each replicate's list of failed checks."""
    counts: dict[str, int] = {}
    for names in failed:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name}: {k}" for name, k in counts.items())
