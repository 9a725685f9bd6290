"""``bg.compare``: several methods from both sides on the same data, side by side.

Each method runs on the same data with its own key (``fold_in(key, i)``); the table has one
row per method with how it handled Z, per-parameter estimates (the MLE or the posterior
mean) with a ``level`` interval (Wald or equal-tailed credible) and the error against the
truth when given, the held-out average log-likelihood at the estimate (exact log Z where
the model has one, else annealed importance sampling, with its Monte Carlo standard
error), the kernel Stein discrepancy of the fitted model against the data (Z-free
goodness of fit, :mod:`bayesgen.evaluation.ksd`), cost (compile and run seconds, gradient
evaluations, ESS per second) and
diagnostics (max R-hat, convergence), and the verdict: ``ok`` when every check of the
result passed (the optimiser or the chains, standard errors, the method's own checks; see
:mod:`bayesgen.diagnostics`), else ``why`` in words. Methods that cannot apply to the
model are skipped with the reason (``Comparison.skipped``), not crashed on; an unknown name
is an error.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd

from bayesgen._io import JsonReport, atomic_save_figure
from bayesgen.bayesian import driver as bayes_driver
from bayesgen.bayesian.base import PosteriorMethod
from bayesgen.diagnostics import verdict
from bayesgen.errors import IntractableNormalizerError, MethodError
from bayesgen.evaluation.ksd import kernel_stein_discrepancy
from bayesgen.frequentist import driver as freq_driver
from bayesgen.frequentist.base import Estimator
from bayesgen.normalizers.ais import ais_log_normalizer
from bayesgen.support import Reals
from bayesgen.tables import flat, records, symmetric_params

__all__ = ["JSON_SCHEMA", "Comparison", "applicable_methods", "compare", "resolve"]

JSON_SCHEMA = "bayesgen.comparison/1"


def _side(method) -> str:
    alias = method[0] if isinstance(method, tuple) and method else method  # (alias, options)
    if isinstance(method, Estimator) or (
        isinstance(alias, str) and alias in freq_driver.ESTIMATORS
    ):
        return "frequentist"
    if isinstance(method, PosteriorMethod) or (
        isinstance(alias, str) and alias in bayes_driver.METHODS
    ):
        return "bayesian"
    known = sorted({*freq_driver.ESTIMATORS, *bayes_driver.METHODS})
    raise MethodError(f"unknown method {method!r}; available: {', '.join(known)}")


def resolve(method):
    """``(side, method object)`` of a method of either side: a string alias of
    ``bg.frequentist`` or ``bg.bayesian``, an ``(alias, {option: value})`` pair, or a
    configured method object."""
    side = _side(method)
    obj = (freq_driver if side == "frequentist" else bayes_driver).resolve(method)
    return side, obj


def applicable_methods(model) -> list:
    """Every method alias of both sides whose ``check`` passes on ``model``; a model that
    names its own ``default_methods`` (a network energy, where NUTS over hundreds of weights
    with a quadrature log Z is impractical) gets those of them that apply."""
    defaults = model.default_methods
    candidates = [*freq_driver.ESTIMATORS, *bayes_driver.METHODS] if defaults is None else defaults
    out = []
    for method in candidates:
        try:
            resolve(method)[1].check(model)
        except (MethodError, IntractableNormalizerError):
            continue
        out.append(method)
    return out


@dataclass
class Comparison(JsonReport):
    """The result of :func:`compare`.

    Attributes:
      table: a pandas DataFrame, one row per method that ran (columns: see ``to_json``).
      results: ``{method: FitResult | PosteriorResult}``.
      skipped: ``{method: why it cannot apply to the model}``.
      model, n, truth, level: what was compared.
    """

    table: pd.DataFrame
    results: dict
    skipped: dict
    model: str
    n: int
    truth: dict | None
    level: float
    parameters: list = field(default_factory=list)

    def to_arviz(self) -> dict:
        """``{method: DataTree}``; frequentist fits as draws from their sampling
        distribution (``FitResult.to_arviz``), so ArviZ plots can overlay both sides."""
        return {name: r.to_arviz() for name, r in self.results.items()}

    def to_markdown(self, digits: int = 4) -> str:
        """The table as GitHub markdown (no extra dependency)."""
        cols = list(self.table.columns)

        def fmt(v):
            if isinstance(v, float | np.floating):
                return "" if math.isnan(v) else f"{v:.{digits}g}"
            return str(v)

        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += [
            "| " + " | ".join(fmt(v) for v in row) + " |" for row in self.table.itertuples(False)
        ]
        if self.skipped:
            lines.append("")
            lines += [f"- skipped {k}: {v}" for k, v in self.skipped.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The JSON document of :meth:`to_json` (schema ``bayesgen.comparison/1``)."""
        rows = records(self.table)
        return {
            "schema": JSON_SCHEMA,
            "model": self.model,
            "n": self.n,
            "level": self.level,
            "truth": self.truth,
            "parameters": self.parameters,
            "rows": rows,
            "skipped": self.skipped,
        }

    def plot_densities(self, model, data=None, path=None, points: int = 200):
        """The fitted densities side by side, p(x) = f(x)/Z on a grid, for a model on R or R²
        with an exact log Z (the 2-D EBMs): one panel per method (the posterior mean's
        parameters for the Bayesian side) and one of ``data``. Returns the matplotlib figure
        and writes it to ``path`` (atomically) when given.

        Raises:
          MethodError: the model's data are not 1-D or 2-D reals, or its log Z is not exact.
        """
        return _plot_densities(self, model, data, path, points)

    def plot(self, path=None):
        """Per parameter, each method's estimate and interval against the truth; returns the
        matplotlib figure, and writes it to ``path`` (atomically) when given."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        params = self.parameters
        fig, axes = plt.subplots(
            1, len(params), figsize=(4 * len(params), 0.45 * len(self.table) + 1.5), squeeze=False
        )
        colours = {"frequentist": "tab:blue", "bayesian": "tab:orange"}
        y = np.arange(len(self.table))[::-1]
        for ax, p in zip(axes[0], params, strict=True):
            est = self.table[p].to_numpy(float)
            lo, hi = self.table[f"{p} lo"].to_numpy(float), self.table[f"{p} hi"].to_numpy(float)
            for i, side in enumerate(self.table["side"]):
                ax.errorbar(
                    est[i],
                    y[i],
                    xerr=[[est[i] - lo[i]], [hi[i] - est[i]]],
                    fmt="o",
                    color=colours[side],
                    capsize=3,
                )
            if self.truth is not None and p in self.truth:
                ax.axvline(self.truth[p], color="k", ls="--", lw=1, label="truth")
            ax.set_yticks(y, self.table["method"] if ax is axes[0][0] else [""] * len(y))
            ax.set_title(p)
        handles = [
            plt.Line2D([], [], color=c, marker="o", ls="", label=side)
            for side, c in colours.items()
            if side in set(self.table["side"])
        ]
        axes[0][-1].legend(handles=handles, loc="best", fontsize="small")
        fig.suptitle(f"{self.model}, n = {self.n}: estimates and {self.level:.0%} intervals")
        fig.tight_layout()
        if path is not None:
            atomic_save_figure(fig, path)
        return fig


def _plot_densities(cmp: Comparison, model, data=None, path=None, points: int = 200):
    """See :meth:`Comparison.plot_densities`."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    shape = model.support.event_shape
    if not (isinstance(model.support, Reals) and shape in ((1,), (2,))):
        raise MethodError(f"plot_densities draws models on R or R^2; {model!r} is on {shape}")
    if not model.has_exact_normalizer:
        raise MethodError(f"plot_densities needs an exact log Z, which {model!r} does not have")
    x = None if data is None else np.asarray(data)
    lo, hi = (-3.0, 3.0) if x is None else (float(x.min()) - 0.5, float(x.max()) + 0.5)
    axis = np.linspace(lo, hi, points)
    if shape == (2,):
        mesh = np.stack(np.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
    else:
        mesh = axis[:, None]
    mesh_j = jax.numpy.asarray(mesh)
    panels = []
    for name, r in cmp.results.items():
        params = model.check_params(r.params if r.side == "frequentist" else r.mean())
        log_p = model.log_f_batch(params, mesh_j) - model.log_normalizer(params)
        panels.append((name, np.exp(np.asarray(log_p))))
    count = len(panels) + (x is not None)
    fig, axes = plt.subplots(1, count, figsize=(3.2 * count, 3.4), squeeze=False)
    for ax, (name, density) in zip(axes[0], panels, strict=False):
        if shape == (2,):
            ax.imshow(
                density.reshape(points, points),
                origin="lower",
                extent=(lo, hi, lo, hi),
                cmap="viridis",
                aspect="equal",
            )
        else:
            ax.plot(axis, density)
            if x is not None:
                ax.hist(x[:, 0], bins=60, density=True, alpha=0.3, color="k")
        ax.set_title(name, fontsize="small")
    if x is not None and shape == (2,):
        ax = axes[0][-1]
        ax.scatter(x[:, 0], x[:, 1], s=1, color="k")
        ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal", title="data")
    elif x is not None:
        axes[0][-1].hist(x[:, 0], bins=60, density=True, color="k", alpha=0.5)
        axes[0][-1].set_title("data", fontsize="small")
    fig.suptitle(f"{cmp.model}, n = {cmp.n}: fitted densities")
    fig.tight_layout()
    if path is not None:
        atomic_save_figure(fig, path)
    return fig


def _heldout(model, estimate, heldout, key):
    """Average held-out log-likelihood at ``estimate`` and its Monte Carlo SE (0 if exact)."""
    log_f = float(np.mean(np.asarray(model.log_f_batch(estimate, heldout))))
    if model.has_exact_normalizer:
        return log_f - float(model.log_normalizer(estimate)), 0.0, "exact"
    try:
        log_z, se = ais_log_normalizer(model, estimate, key)
    except MethodError:
        return math.nan, math.nan, "unavailable"
    return log_f - float(log_z), float(se), "ais"


def compare(
    model,
    data,
    methods=None,
    *,
    truth=None,
    key=None,
    heldout=None,
    level: float = 0.95,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    num_chains: int = 4,
    progress=None,
    on_result=None,
    uncertainty: str | None = None,
    num_bootstrap: int = 100,
    devices=None,
) -> Comparison:
    """Run ``methods`` (aliases or configured objects, from either side; default: every
    applicable one) on the same ``data`` and tabulate how each did.

    Args:
      model, data: as for :func:`bayesgen.fit` and :func:`bayesgen.sample_posterior`.
      methods: a list of methods; ``None``: :func:`applicable_methods`.
      truth: the true parameters, for the error columns.
      key: PRNG key (method i uses ``fold_in(key, i)``); ``jax.random.key(0)`` if None.
      heldout: held-out data for the average log-likelihood column.
      level: interval level.
      num_warmup, num_samples, num_chains: for the Bayesian methods.
      progress: passed to both drivers.
      on_result: called as ``on_result(name, result_or_None, seconds)`` after each method
        (the CLI shows progress with it).
      uncertainty: passed to :func:`bayesgen.fit` (``"none"`` skips the frequentist
        standard errors: for hundreds of parameters a sandwich or a bootstrap costs minutes,
        and the intervals are NaN); None: each estimator's default.
      num_bootstrap: refits of the parametric bootstrap, where a method's standard errors
        are the bootstrap (passed to :func:`bayesgen.fit`).
      devices: the Bayesian methods' chains are spread over these devices (every local
        device by default; passed to :func:`bayesgen.sample_posterior`).

    Raises:
      MethodError: an unknown method name (methods that do not apply are skipped instead,
        and so is a method that fails on these data, with its error as the reason: the
        finished rows are kept).
    """
    data = model.validate(data)
    if heldout is not None:
        heldout = model.validate(heldout)
    if not 0 < level < 1:
        raise MethodError(f"level must be in (0, 1); got {level}")
    key = jax.random.key(0) if key is None else key
    methods = applicable_methods(model) if methods is None else list(methods)
    resolved = [(m, *resolve(m)) for m in methods]  # unknown names fail before any work
    sym = symmetric_params(model)
    truth_flat = None if truth is None else flat(model.check_params(truth), sym)
    rows, results, skipped = [], {}, {}
    names = None
    for i, (_, side, method) in enumerate(resolved):
        label = method.name
        if label in results or label in skipped:  # the same method twice, configured apart
            label = f"{label} #{i}"
        k = jax.random.fold_in(key, i)
        try:
            method.check(model)
        except (MethodError, IntractableNormalizerError) as err:
            skipped[label] = str(err)
            if on_result:
                on_result(label, None, 0.0)
            continue
        t0 = time.perf_counter()
        try:
            if side == "frequentist":
                r = freq_driver.fit(
                    model,
                    data,
                    method,
                    key=k,
                    progress=progress,
                    uncertainty=uncertainty,
                    num_bootstrap=num_bootstrap,
                )
                estimate, interval = r.params, r.interval(level)
            else:
                r = bayes_driver.sample_posterior(
                    model,
                    data,
                    method,
                    key=k,
                    num_warmup=num_warmup,
                    num_samples=num_samples,
                    num_chains=num_chains,
                    progress=progress,
                    devices=devices,
                )
                estimate = r.mean()
                interval = r.interval(level)
        except Exception as err:  # one method's failure must not lose the finished rows
            why = f"failed on these data: {type(err).__name__}: {err}".splitlines()[0]
            skipped[label] = why
            warnings.warn(f"compare: {label} {why}; the other methods go on", stacklevel=2)
            if on_result:
                on_result(label, None, time.perf_counter() - t0)
            continue
        wall = time.perf_counter() - t0
        results[label] = r
        if on_result:
            on_result(label, r, wall)
        est = flat(estimate, sym)
        lo = flat({n: v[0] for n, v in interval.items()}, sym)
        hi = flat({n: v[1] for n, v in interval.items()}, sym)
        names = list(est)
        row = {"method": label, "side": side, "normalizer": r.normalizer}
        for p in names:
            row[p], row[f"{p} lo"], row[f"{p} hi"] = est[p], lo[p], hi[p]
            if truth_flat is not None:
                row[f"{p} error"] = est[p] - truth_flat[p]
        if heldout is not None:
            ll, se, how = _heldout(model, estimate, heldout, jax.random.fold_in(k, 99))
            row["heldout loglik"], row["heldout loglik se"], row["heldout log Z"] = ll, se, how
        try:  # goodness of fit without Z, at the estimate, on the fitted data
            row["ksd"] = kernel_stein_discrepancy(model, estimate, data)
        except MethodError:  # no Stein kernel for these data, one datum, or too many sites
            row["ksd"] = math.nan
        row["prepare s"] = float(r.timing.get("prepare_s", 0.0))
        row["compile s"] = float(r.timing["compile_s"])
        row["run s"] = float(r.timing["run_s"])
        row["wall s"] = wall
        if side == "frequentist":
            row["grad evals"] = int(np.sum(np.isfinite(r.loss_trace)))
            row["ess/s"], row["max r-hat"] = math.nan, math.nan
            row["converged"] = bool(r.converged)
            checks = r.diagnostics
        else:
            steps = r.sample_stats.get("num_steps")
            row["grad evals"] = int(np.sum(steps)) if steps is not None else 0
            diag = r.diagnostics()
            per = [v for v in diag.values() if isinstance(v, dict)]
            seconds = r.timing["run_s"] + r.timing.get("prepare_s", 0.0)
            row["ess/s"] = min(v["ess_bulk"] for v in per) / max(seconds, 1e-12)
            row["max r-hat"] = max(v["r_hat"] for v in per)
            row["converged"] = bool(row["max r-hat"] < bayes_driver.MAX_R_HAT)
            checks = r.checks()
        row["ok"], row["why"] = verdict(checks)
        row["device"] = r.device
        rows.append(row)
    return Comparison(
        table=pd.DataFrame(rows),
        results=results,
        skipped=skipped,
        model=repr(model),
        n=int(data.shape[0]),
        truth=None if truth_flat is None else truth_flat,
        level=level,
        parameters=names or [],
    )
