"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman 2018).

For each of ``replicates`` simulations: θ̃ ~ prior, a dataset of ``n`` data from p_θ̃, and
the method's posterior given it (every chain of every simulation in one vmapped, compiled
computation, :func:`bayesgen.bayesian.sample_replicates`). If the method samples the
posterior of the model's prior and likelihood, the rank of θ̃ among ``num_ranks`` posterior
draws is uniform on {0, …, num_ranks}, for every scalar parameter. The draws are thinned
evenly from all chains (about 50-fold for the defaults), so that autocorrelation does
not bend the ranks.

The uniformity test per parameter is Pearson's chi-square on ``num_bins`` equal bins of the
ranks; a method passes when every parameter's p-value exceeds ``alpha`` divided by the
number of parameters (Bonferroni). Posteriors that are too narrow pile ranks at both ends
(``pit sd`` above the uniform's 1/√12 ≈ 0.289), too wide ones in the middle (below it),
biased ones to one side (``mean rank`` away from 0.5). :meth:`SBC.plot` draws ArviZ's
Δ-ECDF of the PIT values with simultaneous bands (Säilynoja, Bürkner & Vehtari 2022).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd
from scipy.stats import chisquare

from bayesgen._io import JsonReport, atomic_save_figure
from bayesgen.bayesian import driver as bayes_driver
from bayesgen.errors import MethodError, check_counts
from bayesgen.tables import flat_columns, records, symmetric_params

__all__ = ["SBC", "SBC_SCHEMA", "sbc"]

SBC_SCHEMA = "bayesgen.sbc/1"


@dataclass
class SBC(JsonReport):
    """The result of :func:`sbc`.

    Attributes:
      ranks: ``{parameter: (replicates,) int}``, each in {0, …, num_ranks}, for the
        replicates that ran (``ok``).
      pit: ``{parameter: (replicates,)}``: the fraction of all posterior draws below θ̃.
      truths: ``{parameter: (replicates,)}``: the prior draws θ̃.
      table: one row per parameter: chi-square statistic and p-value, mean rank and PIT sd
        (scaled to [0, 1]), ``calibrated`` (p > alpha / parameters).
      passed: every parameter calibrated.
      ok: ``(replicates,)`` bool, the replicates ranked (preparation and draws finite;
        unmixed chains are ranked too, SBC is there to catch them); r_hat: ``(replicates,)``
        max R-hat per simulation.
      method, model, n, replicates, num_ranks, num_bins, alpha, seconds.
    """

    ranks: dict
    pit: dict
    truths: dict
    table: pd.DataFrame
    passed: bool
    ok: np.ndarray
    r_hat: np.ndarray
    method: str
    model: str
    n: int
    replicates: int
    num_ranks: int
    num_bins: int
    alpha: float
    seconds: float

    def to_arviz(self):
        """A DataTree whose ``prior_sbc`` group holds the PIT values (one draw per
        simulation), the input of ArviZ's ``plot_ecdf_pit``."""
        import arviz as az

        tree = az.from_dict({"prior_sbc": {k: v[None, :] for k, v in self.pit.items()}})
        tree.attrs.update({"method": self.method, "model": self.model, "n": self.n})
        return tree

    def plot(self, path=None):
        """ArviZ's Δ-ECDF of the PIT values with simultaneous 95% bands, one panel per
        parameter; returns the matplotlib figure and writes it (atomically) to ``path``."""
        import arviz as az
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        collection = az.plot_ecdf_pit(self.to_arviz(), backend="matplotlib")
        fig = collection.viz["figure"].item()
        fig.suptitle(f"SBC of {self.method} on {self.model}, n = {self.n}")
        if path is not None:
            atomic_save_figure(fig, path)
        return fig

    def to_dict(self) -> dict:
        return {
            "schema": SBC_SCHEMA,
            "method": self.method,
            "model": self.model,
            "n": self.n,
            "replicates": self.replicates,
            "replicates_ok": int(self.ok.sum()),
            "num_ranks": self.num_ranks,
            "num_bins": self.num_bins,
            "alpha": self.alpha,
            "passed": self.passed,
            "seconds": self.seconds,
            "rows": records(self.table),
            "ranks": {k: v.tolist() for k, v in self.ranks.items()},
        }


def sbc(
    model,
    method,
    *,
    n: int,
    replicates: int = 200,
    key=None,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 4,
    num_ranks: int = 39,
    num_bins: int = 10,
    alpha: float = 0.01,
    devices=None,
) -> SBC:
    """Simulation-based calibration of a posterior ``method`` on ``model`` under the model's
    prior (:meth:`bayesgen.Model.with_prior` sets another). See the module docstring.

    Args:
      model: a :class:`bayesgen.Model` with an exact or an approximate sampler.
      method: a posterior method (alias or object).
      n: data per simulated dataset; replicates: simulations.
      key: PRNG key; ``jax.random.key(0)`` if None.
      num_warmup, num_samples, num_chains: per simulation.
      num_ranks: posterior draws each θ̃ is ranked among (thinned evenly from all chains;
        at most ``num_chains * num_samples``); ``num_ranks + 1`` must be a multiple of
        ``num_bins``.
      alpha: the family-wise level of the uniformity test.
      devices: the simulations are spread over these devices (every local device by
        default; see :func:`bayesgen.bayesian.sample_replicates`).

    Raises:
      MethodError: bad sizes, or a frequentist method.
    """
    check_counts(n=(n, 2), replicates=(replicates, 2), num_ranks=(num_ranks, 1))
    check_counts(num_bins=(num_bins, 2), num_samples=(num_samples, 1), num_chains=(num_chains, 1))
    if num_ranks > num_chains * num_samples:
        raise MethodError(
            f"num_ranks={num_ranks} exceeds the {num_chains * num_samples} posterior draws; "
            "draw more or rank among fewer"
        )
    if (num_ranks + 1) % num_bins:
        raise MethodError(
            f"num_ranks + 1 = {num_ranks + 1} must be a multiple of num_bins = {num_bins}"
        )
    if not 0 < alpha < 1:
        raise MethodError(f"alpha must be in (0, 1); got {alpha}")
    method = bayes_driver.resolve(method)
    method.check(model)
    key = jax.random.key(0) if key is None else key
    k_prior, k_data, k_post = jax.random.split(key, 3)
    prior_keys = jax.random.split(k_prior, len(model.prior))
    truths = {
        name: d.sample(prior_keys[j], (replicates,))
        for j, (name, d) in enumerate(model.prior.items())
    }
    keys = jax.random.split(k_data, replicates)
    datasets = model.sample_datasets(keys, truths, int(n), per_key=True)

    t0 = time.perf_counter()
    reps = bayes_driver.sample_replicates(
        model,
        datasets,
        method,
        key=k_post,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        devices=devices,
    )
    seconds = time.perf_counter() - t0

    sym = symmetric_params(model)
    ok = reps.finite  # every finite replicate: an unmixed chain is what SBC is there to catch
    true_flat = flat_columns(truths, sym, batch_ndim=1)
    pooled = {k: v.reshape(v.shape[0], -1, *v.shape[3:]) for k, v in reps.samples.items()}
    draws_flat = flat_columns(pooled, sym, batch_ndim=2)  # (replicates, draws)
    keep = np.linspace(0, num_chains * num_samples - 1, num_ranks).round().astype(int)
    ranks, pit, rows = {}, {}, []
    for p, truth in true_flat.items():
        draws = draws_flat[p][ok]
        ranks[p] = np.sum(draws[:, keep] < truth[ok, None], axis=1)
        pit[p] = np.mean(draws < truth[ok, None], axis=1)
        counts = np.bincount(ranks[p] * num_bins // (num_ranks + 1), minlength=num_bins)
        test = chisquare(counts)
        scaled = (ranks[p] + 0.5) / (num_ranks + 1)
        rows.append(
            {
                "parameter": p,
                "chi2": float(test.statistic),
                "p": float(test.pvalue),
                "mean rank": float(np.mean(scaled)),
                "pit sd": float(np.std(scaled, ddof=1)),
            }
        )
    table = pd.DataFrame(rows)
    table["calibrated"] = table["p"] > alpha / len(rows)
    return SBC(
        ranks=ranks,
        pit=pit,
        truths={p: np.asarray(v)[ok] for p, v in true_flat.items()},
        table=table,
        passed=bool(table["calibrated"].all()),
        ok=ok,
        r_hat=reps.r_hat,
        method=method.name,
        model=repr(model),
        n=int(n),
        replicates=int(replicates),
        num_ranks=int(num_ranks),
        num_bins=int(num_bins),
        alpha=float(alpha),
        seconds=seconds,
    )
