"""Goodness of fit of a network model, as ergm's ``gof``: networks simulated at the fitted
parameters against the observed one, by three distributions the terms do not fit directly,

* degree: how many nodes have degree k, k = 0 .. N - 1;
* edgewise shared partners (ESP): how many ties have k partners in common, k = 0 .. N - 2;
* geodesic distance: how many pairs of nodes are k steps apart, k = 1 .. N - 1, and how many
  are not connected at all ("inf");

each with the simulated mean, a 95% band (2.5% and 97.5% quantiles) and ergm's two-sided
Monte Carlo p-value (twice the smaller share of simulated values on either side of the
observed one, at most 1). It also says whether the model is degenerate there: simulated
networks piling up at the empty or the full graph (Handcock 2003), which makes every
fit of that term set unreliable.

Reference: D. R. Hunter, S. M. Goodreau, M. S. Handcock (2008), Goodness of fit of social
network models, JASA 103; M. S. Handcock (2003), Assessing degeneracy in statistical
models of social networks, CSSS working paper 39.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import jax
import numpy as np
from scipy.sparse.csgraph import shortest_path

from bayesgen.errors import MethodError

__all__ = ["DEGENERATE_SHARE", "DegeneracyWarning", "NetworkGoodnessOfFit", "network_gof"]

DEGENERATE_SHARE = 0.1
"""Degenerate: more than this share of the simulated networks has density below 5% or above
95% while the observed network's density lies between."""


class DegeneracyWarning(UserWarning):
    """The model's simulated networks pile up at the empty or the full graph."""


@dataclass
class NetworkGoodnessOfFit:
    """The result of :func:`network_gof`.

    Attributes:
      statistics: ``{"degree" | "esp" | "distance": {"k": labels, "observed": counts,
        "mean": simulated means, "lo", "hi": the 95% band, "p": two-sided p-values}}``.
      degenerate: whether the simulated networks pile up at the empty or full graph.
      why: the degeneracy verdict, in words.
      num_graphs: networks simulated.
    """

    statistics: dict
    degenerate: bool
    why: str
    num_graphs: int
    density: dict = field(default_factory=dict)

    def worst(self) -> tuple[str, str, float]:
        """``(statistic, k, p)`` of the smallest p-value: the worst-fitted count."""
        best = ("", "", 1.0)
        for name, table in self.statistics.items():
            for k, p in zip(table["k"], table["p"], strict=True):
                if p < best[2]:
                    best = (name, str(k), float(p))
        return best

    def plot(self, path=None):
        """ergm's gof plot: per statistic, the simulated band and mean against the observed
        counts (as shares, as ergm draws them); written atomically to ``path`` if given."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        titles = {"degree": "degree", "esp": "edgewise shared partners", "distance": "geodesic"}
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
        for ax, (name, t) in zip(axes, self.statistics.items(), strict=True):
            total = max(float(np.sum(t["observed"])), 1.0)
            x = np.arange(len(t["k"]))
            ax.fill_between(x, t["lo"] / total, t["hi"] / total, color="0.85", label="95% band")
            ax.plot(x, t["mean"] / total, color="0.4", lw=1, label="simulated mean")
            ax.plot(x, t["observed"] / total, "k-o", ms=3, lw=1.5, label="observed")
            ticks = sorted({*x[:: max(1, len(x) // 8)].tolist(), int(x[-1])})  # and "inf"
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t["k"][i]) for i in ticks])
            ax.set_title(titles[name])
            ax.set_ylabel("proportion")
        axes[0].legend(fontsize=7)
        fig.suptitle(("DEGENERATE: " if self.degenerate else "") + self.why, fontsize=8)
        fig.tight_layout()
        if path is not None:
            from bayesgen._io import atomic_save_figure

            atomic_save_figure(fig, path)
            plt.close(fig)
        return fig


def _distributions(adjacency: np.ndarray) -> dict:
    """Degree, ESP and geodesic counts of each graph of ``adjacency`` (m, N, N)."""
    m, n, _ = adjacency.shape
    degree = np.stack([np.bincount(d, minlength=n) for d in adjacency.sum(2).astype(int)])
    shared = adjacency @ adjacency
    esp = np.zeros((m, n - 1), int)
    dist = np.zeros((m, n), int)  # 1 .. N - 1, then inf
    rows, cols = np.triu_indices(n, 1)
    for g in range(m):
        ties = adjacency[g][rows, cols] > 0
        esp[g] = np.bincount(shared[g][rows, cols][ties].astype(int), minlength=n - 1)[: n - 1]
        d = shortest_path(adjacency[g], unweighted=True, directed=False)[rows, cols]
        finite = np.isfinite(d)
        dist[g, : n - 1] = np.bincount(d[finite].astype(int), minlength=n)[1:n]
        dist[g, n - 1] = int((~finite).sum())
    return {"degree": degree, "esp": esp, "distance": dist}


def network_gof(model, params, observed, *, key=None, num_graphs: int = 100, warn=True):
    """Goodness of fit of a network ``model`` (``bg.models.ERGM``) at ``params`` to the
    ``observed`` network (an adjacency matrix or dyad vector; the first graph of a batch),
    from ``num_graphs`` networks simulated by the model's sampler (see the module
    docstring). Warns :class:`DegeneracyWarning` when the model is degenerate there."""
    if not hasattr(model, "adjacency"):
        raise MethodError(f"network_gof needs a network model (bg.models.ERGM); got {model!r}")
    if num_graphs < 20:
        raise MethodError(f"network_gof needs num_graphs >= 20 for its bands; got {num_graphs}")
    key = jax.random.key(0) if key is None else key
    y_obs = model.validate(observed)[:1]
    sims = model.sample(key, params, int(num_graphs))
    obs = _distributions(np.asarray(model.adjacency(y_obs)))
    sim = _distributions(np.asarray(model.adjacency(sims)))
    n = model.num_nodes
    labels = {
        "degree": list(range(n)),
        "esp": list(range(n - 1)),
        "distance": [*range(1, n), "inf"],
    }
    out = {}
    for name, counts in sim.items():
        o = obs[name][0]
        above, below = (counts >= o).mean(0), (counts <= o).mean(0)
        out[name] = {
            "k": labels[name],
            "observed": o,
            "mean": counts.mean(0),
            "lo": np.quantile(counts, 0.025, axis=0),
            "hi": np.quantile(counts, 0.975, axis=0),
            "p": np.minimum(1.0, 2 * np.minimum(above, below)),
        }
    density = np.asarray(sims).mean(1)
    observed_density = float(np.asarray(y_obs).mean())
    extreme = float(((density < 0.05) | (density > 0.95)).mean())
    inside = 0.05 <= observed_density <= 0.95
    degenerate = inside and extreme > DEGENERATE_SHARE
    why = (
        f"{extreme:.0%} of {num_graphs} simulated networks have density below 5% or above "
        f"95% (the observed network's is {observed_density:.3f}; simulated mean "
        f"{density.mean():.3f})"
    )
    if degenerate and warn:
        warnings.warn(
            f"{model!r} is degenerate at these parameters: {why}; its fits cannot be trusted "
            "there (try gwesp instead of triangles or k-stars)",
            DegeneracyWarning,
            stacklevel=2,
        )
    summary = {"observed": observed_density, "mean": float(density.mean()), "extreme": extreme}
    return NetworkGoodnessOfFit(out, degenerate, why, int(num_graphs), summary)
