"""The posterior driver: any method's NumPyro kernel, run as one compiled scan.

Chains are initialised by the kernel, one key per chain (vmapped over the chains, or, for
an ensemble kernel whose state holds every chain, the population exchange, one call with
the batch of keys, as NumPyro's ``is_ensemble_kernel`` means); warm-up and sampling are one
jitted function of the kernel state and the data, compiled ahead of
time (so compile and run seconds are measured apart) and cached on (model, method,
lengths, argument shapes): a new dataset of the same shape reuses it without lowering or
compiling again.
``"sequential"`` runs the same compiled function chain after chain.

:func:`sample_replicates` runs a method on many datasets of the same shape at once: the
method's preparation, the kernel's initialisation, warm-up and sampling of every chain of
every replicate are one vmapped, compiled computation (replicate studies, simulation-based
calibration).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from bayesgen._compiled import jit as compiled_jit
from bayesgen._compiled import owned
from bayesgen._engine import Spread, progress_bar, show_progress, spread_call
from bayesgen._keys import replicate_keys
from bayesgen._xla import RUN_ONCE
from bayesgen.bayesian.base import PosteriorMethod
from bayesgen.bayesian.builder import LOG_LIKELIHOOD_SITE
from bayesgen.bayesian.exchange import Exchange
from bayesgen.bayesian.generalized_bayes import GeneralizedBayes
from bayesgen.bayesian.nuts import NUTS
from bayesgen.bayesian.pseudo_posterior import PseudoPosterior
from bayesgen.diagnostics import Check, checks_by_name, verdict, verdicts
from bayesgen.errors import MethodError, check_counts, resolve_method

MAX_R_HAT = 1.01  # Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), section 4
MIN_ESS_PER_CHAIN = 100  # the same: bulk and tail ESS above 100 per chain

METHODS: dict[str, type[PosteriorMethod]] = {
    "nuts": NUTS,
    "exchange": Exchange,
    "generalized_bayes": GeneralizedBayes,
    "pseudo_posterior": PseudoPosterior,
}
CHAIN_METHODS = ("vectorized", "sequential")


def resolve(method) -> PosteriorMethod:
    """A method object from a string alias or a :class:`PosteriorMethod` instance."""
    return resolve_method(method, PosteriorMethod, METHODS, "Bayesian")


@dataclass
class PosteriorResult:
    """The result of :func:`sample_posterior`.

    Attributes:
      samples: ``{name: array (chains, draws, *shape)}`` in the parameters' own space.
      sample_stats: ``{field: array (chains, draws)}`` (acceptance, divergences, ...).
      log_likelihood: per-datum log-likelihood ``(chains, draws, n)`` where Z is exact,
        else None; computed on first use (by :meth:`to_arviz`, for LOO and WAIC), not in
        every run (``pointwise`` computes it).
      observed: the data.
      method, side, normalizer, timing (``prepare_s``: the method's calibration before
        sampling, if any; ``init_s``: the kernel's initial states; ``compile_s``: the
        sampling loop's compilation, near 0 when a dataset of the same shape was seen;
        ``run_s``: warm-up and sampling), device.
      info: what the method computed before sampling (e.g. ``generalized_bayes``'s loss
        weight, ``pseudo_posterior``'s modes and adjustment), as numpy arrays.
    """

    samples: dict
    sample_stats: dict
    pointwise: Callable[[], jax.Array | None] | None  # the per-datum log-likelihood, or None
    observed: np.ndarray
    method: str
    normalizer: str
    timing: dict
    device: str
    side: str = "bayesian"
    info: dict = field(default_factory=dict)

    def interval(self, level: float = 0.95) -> dict:
        """Equal-tailed credible intervals ``{name: (lower, upper)}`` at ``level``."""
        q = [(1 - level) / 2, (1 + level) / 2]
        return {
            k: tuple(np.quantile(v.reshape(-1, *v.shape[2:]), q, axis=0))
            for k, v in self.samples.items()
        }

    @functools.cached_property
    def log_likelihood(self) -> np.ndarray | None:
        """The per-datum log-likelihood ``(chains, draws, n)`` where Z is exact, else None."""
        values = None if self.pointwise is None else self.pointwise()
        return None if values is None else np.asarray(values)

    def mean(self) -> dict:
        """Posterior means ``{name: array (*shape)}`` over every chain and draw."""
        return {k: np.asarray(v).mean(axis=(0, 1)) for k, v in self.samples.items()}

    def to_arviz(self):
        """An ArviZ DataTree: posterior, sample_stats, observed_data, log_likelihood (where
        Z is exact); attributes record the method, side, normaliser handling, timing and
        device."""
        import arviz as az

        groups = {
            "posterior": self.samples,
            "sample_stats": _arviz_stats(self.sample_stats),
            "observed_data": {"x": self.observed},
        }
        if self.log_likelihood is not None:
            groups["log_likelihood"] = {"x": self.log_likelihood}
        tree = az.from_dict(groups)
        attrs = {
            "method": self.method,
            "side": self.side,
            "normalizer": self.normalizer,
            "compile_s": self.timing["compile_s"],
            "run_s": self.timing["run_s"],
            "device": self.device,
        }
        attrs.update({k: np.asarray(v).tolist() for k, v in self.info.items()})
        tree.attrs.update(attrs)
        tree["posterior"].attrs.update(attrs)
        return tree

    @property
    def num_chains(self) -> int:
        return int(next(iter(self.samples.values())).shape[0])

    def checks(self) -> dict:
        """``{name: bayesgen.diagnostics.Check}`` from :meth:`diagnostics` (see
        :func:`posterior_checks`)."""
        return posterior_checks(self.diagnostics(), self.num_chains, _min_sds(self.samples))

    @property
    def ok(self) -> bool:
        """Every check of :meth:`checks` passed."""
        return verdict(self.checks())[0]

    @property
    def why(self) -> str:
        """The failed checks, in words ("" when :attr:`ok`)."""
        return verdict(self.checks())[1]

    def diagnostics(self) -> dict:
        """``{name: {"r_hat", "ess_bulk", "ess_tail"}}`` per scalar parameter (rank-normalised
        split R-hat and bulk/tail ESS, Vehtari et al. 2021, by ArviZ), plus
        ``"divergences"`` and ``"accept_prob"`` over all draws; :meth:`checks` (and the
        verdict, :attr:`ok` and :attr:`why`) are built from them. Computed once per result
        (its draws are not meant to change), however often it is asked for."""
        return self._diagnostics

    @functools.cached_property
    def _diagnostics(self) -> dict:
        import arviz as az

        tree = az.from_dict({"posterior": self.samples})
        rhat = az.rhat(tree)
        bulk = az.ess(tree, method="bulk")
        tail = az.ess(tree, method="tail")
        out = {}
        for name in self.samples:
            r, b, t = (np.asarray(x[name]) for x in (rhat, bulk, tail))
            for idx in np.ndindex(r.shape):
                label = name if not idx else f"{name}[{','.join(map(str, idx))}]"
                out[label] = {
                    "r_hat": float(r[idx]),
                    "ess_bulk": float(b[idx]),
                    "ess_tail": float(t[idx]),
                }
        out["divergences"] = int(np.sum(self.sample_stats.get("diverging", 0)))
        out["accept_prob"] = float(np.mean(self.sample_stats["accept_prob"]))
        return out


def _arviz_stats(stats: dict) -> dict:
    names = {"num_steps": "n_steps", "potential_energy": "lp"}
    out = {names.get(k, k): v for k, v in stats.items()}
    if "lp" in out:
        out["lp"] = -out["lp"]  # ArviZ's lp is the log density, NumPyro's the potential
    return out


def _min_sds(samples: dict) -> dict:
    """``{name: the smallest posterior sd over its elements}``, chains pooled."""
    return {
        k: float(np.min(np.std(v.reshape(-1, *v.shape[2:]), axis=0))) for k, v in samples.items()
    }


def posterior_checks(diag: dict, chains: int, sds: dict) -> dict:
    """``{name: bayesgen.diagnostics.Check}`` of one posterior from its
    :meth:`PosteriorResult.diagnostics` ``diag``, chain count and smallest posterior sd per
    parameter: the chains mixed (max R-hat below :data:`MAX_R_HAT`, with two chains or
    more), enough effective draws (the smallest bulk and tail ESS at least
    :data:`MIN_ESS_PER_CHAIN` per chain), no divergent transitions, and every posterior
    standard deviation positive (a chain that never moved gives a zero-width interval)."""
    per = {k: v for k, v in diag.items() if isinstance(v, dict)}
    out = []
    if chains >= 2:
        worst = max(per, key=lambda k: per[k]["r_hat"])
        r = per[worst]["r_hat"]
        passed = bool(r < MAX_R_HAT)
        out.append(
            Check(
                "r_hat",
                passed,
                r,
                f"chains mixed: max R-hat {r:.3f}"
                if passed
                else f"the chains have not mixed: R-hat of {worst} is {r:.3f} >= {MAX_R_HAT}; "
                "run longer chains (num_warmup, num_samples)",
            )
        )
    else:
        out.append(
            Check(
                "r_hat",
                False,
                float("nan"),
                "one chain: R-hat cannot tell whether chains mix; run num_chains >= 2",
            )
        )
    ess = {k: min(v["ess_bulk"], v["ess_tail"]) for k, v in per.items()}
    worst = min(ess, key=ess.get)
    need = MIN_ESS_PER_CHAIN * chains
    passed = bool(ess[worst] >= need)
    out.append(
        Check(
            "ess",
            passed,
            ess[worst],
            f"smallest ESS {ess[worst]:.0f}"
            if passed
            else f"too few effective draws: the ESS of {worst} is {ess[worst]:.0f} < {need} "
            f"({MIN_ESS_PER_CHAIN} per chain); run longer chains",
        )
    )
    if diag["divergences"]:
        out.append(
            Check(
                "divergences",
                False,
                float(diag["divergences"]),
                f"{diag['divergences']} divergent transitions: the sampler missed part of "
                "the posterior; raise target_accept_prob",
            )
        )
    flat = min(sds, key=sds.get)
    passed = bool(sds[flat] > 0)
    out.append(
        Check(
            "width",
            passed,
            sds[flat],
            "every posterior sd > 0"
            if passed
            else f"the draws of {flat} never moved (posterior sd 0): a zero-width interval",
        )
    )
    return checks_by_name(out)


def _kernel(method, model):
    """One kernel object per (method, model), kept on the model, so compiled code is shared
    across calls and freed with the model."""
    return owned(model, ("kernel", method), lambda: method.kernel(model))


def _init_chains(kernel, keys, num_warmup, data, extras):
    """Initial states of a batch of chains, one key each, as a vmap of single-chain inits.

    NumPyro's own batched init (a batch of keys) wraps the kernel's sample function in one
    more ``vmap`` on every call, so a cached kernel could not be initialised that way twice;
    the single-chain init leaves the kernel as it was, and :func:`_run` does the vmap. An
    ensemble kernel (one state for all chains) is initialised once with the batch of keys."""
    if kernel.is_ensemble_kernel:
        return kernel.init(keys, num_warmup, None, (data,), extras)
    return jax.vmap(lambda k: kernel.init(k, num_warmup, None, (data,), extras))(keys)


def _init_from(kernel, num_warmup, keys, data, extras):
    return _init_chains(kernel, keys, num_warmup, data, extras)


def _init_chains_compiled(model, kernel, num_warmup):
    """:func:`_init_chains` compiled once per (kernel, warm-up length, argument shapes), kept
    on the model: NumPyro's init is many small operations (finding a valid start, a
    reasonable step size), slow when run eagerly."""
    return compiled_jit(model, _init_from, kernel, num_warmup, compiler_options=RUN_ONCE)


def _run(kernel, fields, num_warmup, num_samples, state, data, extras):
    """Warm-up, then ``num_samples`` draws of a batch of chains (leading axis of ``state``);
    returns (final state, (z draws, stats draws)), draws first, then chains.

    Warm-up and sampling are one loop over one copy of the kernel's step (a loop each
    compiled NUTS's tree builder twice: 4.3 s against 3.2 s on Ising 3 x 3): every step
    writes its draw at index max(step - num_warmup, 0), so the warm-up's writes to the
    first slot are overwritten by the first draw."""
    args = (data,)

    def sample_one(state):
        return kernel.sample(state, args, extras)

    # An ensemble kernel's state holds every chain; others are one chain each, vmapped.
    sample = sample_one if kernel.is_ensemble_kernel else jax.vmap(sample_one)

    def record(state):
        return getattr(state, kernel.sample_field), {f: getattr(state, f) for f in fields}

    draws = jax.tree.map(lambda a: jnp.zeros((num_samples, *a.shape), a.dtype), record(state))

    def step(i, carry):
        state, draws = carry
        state = sample(state)
        slot = jnp.maximum(i - num_warmup, 0)
        draws = jax.tree.map(
            lambda d, v: jax.lax.dynamic_update_index_in_dim(d, v, slot, 0), draws, record(state)
        )
        return state, draws

    return jax.lax.fori_loop(0, num_warmup + num_samples, step, (state, draws))


def _postprocess(kernel, names, zs, data, extras):
    """Every draw mapped to the sites ``names`` (the constrained parameters, or the
    pointwise log-likelihood; a site the model lacks is None), compiled: run eagerly, its
    scans would keep the model in JAX's dispatch caches; jitted, what is not asked for is
    not computed."""
    sites = jax.vmap(jax.vmap(kernel.postprocess_fn((data,), extras)))(zs)
    return {k: sites.get(k) for k in names}


def _compiled(model, fn, statics, *args):
    """``fn(*statics, *args)`` (:func:`_run`, :func:`_replicates`, ...) compiled for these
    static settings and argument shapes and dtypes on first use, and kept on the model: a
    new dataset of the same shape reuses it, and neither lowering nor compilation is
    repeated."""
    leaves, tree = jax.tree.flatten(args)
    signature = tuple(
        (jnp.shape(a), jnp.result_type(a), getattr(a, "weak_type", False)) for a in leaves
    )
    return owned(
        model,
        ("executable", fn, statics, tree, signature),
        lambda: compiled_jit(model, fn, *statics).lower(*args).compile(),
    )


def _prepare_replicates(method, model, num_chains, keys, datasets):
    """Every replicate's :meth:`prepare`, with the key :func:`sample_posterior` gives it
    (the last of ``num_chains + 1``), vmapped over (keys, datasets)."""

    def one(key, data):
        return method.prepare(model, data, jax.random.split(key, num_chains + 1)[num_chains])

    return jax.vmap(one)(keys, datasets)


def _replicates(method, model, num_warmup, num_samples, num_chains, keys, datasets, extras):
    """Every replicate's posterior draws, as :func:`sample_posterior` makes them for one
    dataset and key (same key split), vmapped over (keys, datasets, prepared extras)."""
    kernel = _kernel(method, model)
    fields = method.stat_fields()

    def one(key, data, extras):
        chain_keys = jax.random.split(key, num_chains + 1)
        state = _init_chains(kernel, chain_keys[:num_chains], num_warmup, data, extras)
        _, (zs, stats) = _run(kernel, fields, num_warmup, num_samples, state, data, extras)
        post = kernel.postprocess_fn((data,), extras)
        constrained = jax.vmap(jax.vmap(post))(zs)  # (draws, chains, ...)
        # Only the parameters leave the computation: per-datum sites are never materialised.
        samples = {k: jnp.swapaxes(constrained[k], 0, 1) for k in model.param_names}
        stats = {k: jnp.swapaxes(v, 0, 1) for k, v in stats.items()}
        return samples, stats

    return jax.vmap(one)(keys, datasets, extras)


# Replicates are run in groups of equal run length (see PosteriorMethod.run_length) when
# that costs at most this share of running them together at the longest one's length.
GROUPING_GAIN = 0.7


def _groups(method, extras, replicates: int) -> list[np.ndarray]:
    """The replicates' indices in the batches to run: one batch, or, where the method's
    run length varies across replicates enough to pay for a compile per batch, one batch
    per run length (vmapped, every replicate would run as long as the longest: the sweeps
    of approximate exchange, chosen per dataset, took 20 to 160 across 40 datasets of
    16 x 16, n = 10)."""
    everyone = [np.arange(replicates)]
    if method.run_length is None or method.run_length not in extras:
        return everyone
    lengths = np.asarray(extras[method.run_length]).reshape(replicates)
    if lengths.sum() > GROUPING_GAIN * replicates * lengths.max():
        return everyone
    return [np.flatnonzero(lengths == u) for u in np.unique(lengths)]


@dataclass
class ReplicatePosteriors:
    """The result of :func:`sample_replicates`.

    Attributes:
      samples: ``{name: array (replicates, chains, draws, *shape)}``.
      sample_stats: ``{field: array (replicates, chains, draws)}``.
      finite: ``(replicates,)`` bool: the method's preparation and every draw are finite.
      diagnostics: per replicate, ``{name: Check}``: the checks of
        :meth:`PosteriorResult.checks` (R-hat, ESS, divergences, width).
      ok, why: per replicate, the verdict (finite, and every check passed) and the failed
        checks in words ("" where ok).
      r_hat: ``(replicates,)``: the largest rank-normalised split R-hat over the scalar
        parameters of each replicate (ArviZ).
      info: the method's preparation per replicate (leading axis: replicates).
      method, normalizer, timing (``compile_s``, ``run_s``: all replicates together,
        preparation included),
      device.
    """

    samples: dict
    sample_stats: dict
    finite: np.ndarray
    diagnostics: list
    ok: np.ndarray
    why: list
    r_hat: np.ndarray
    info: dict
    method: str
    normalizer: str
    timing: dict
    device: str

    def interval(self, level: float = 0.95) -> dict:
        """Equal-tailed credible intervals per replicate: ``{name: (lower, upper)}``, each of
        shape ``(replicates, *shape)``."""
        q = [(1 - level) / 2, (1 + level) / 2]
        out = {}
        for k, v in self.samples.items():
            pooled = v.reshape(v.shape[0], -1, *v.shape[3:])
            lo, hi = np.quantile(pooled, q, axis=1)
            out[k] = (lo, hi)
        return out

    def mean(self) -> dict:
        """Posterior means per replicate: ``{name: array (replicates, *shape)}``."""
        return {k: v.mean(axis=(1, 2)) for k, v in self.samples.items()}


def _replicate_diagnostics(samples: dict, stats: dict) -> list[dict]:
    """:meth:`PosteriorResult.diagnostics` of every replicate (leading axis), from one ArviZ
    call per statistic with the replicate axis treated as a parameter dimension."""
    import arviz as az

    replicates = next(iter(samples.values())).shape[0]
    posterior = {k: np.moveaxis(v, 0, 2) for k, v in samples.items()}  # (chain, draw, rep, ...)
    tree = az.from_dict({"posterior": posterior})
    if next(iter(samples.values())).shape[1] >= 2:
        rhat = az.rhat(tree)
    else:  # one chain: no R-hat (its check says so)
        rhat = {k: np.full(np.shape(v)[2:], np.nan) for k, v in posterior.items()}
    bulk, tail = az.ess(tree, method="bulk"), az.ess(tree, method="tail")
    out = [{} for _ in range(replicates)]
    for name in samples:
        r, b, t = (np.asarray(x[name]) for x in (rhat, bulk, tail))
        for idx in np.ndindex(r.shape[1:]):
            label = name if not idx else f"{name}[{','.join(map(str, idx))}]"
            for i in range(replicates):
                out[i][label] = {
                    "r_hat": float(r[(i, *idx)]),
                    "ess_bulk": float(b[(i, *idx)]),
                    "ess_tail": float(t[(i, *idx)]),
                }
    diverging = stats.get("diverging")
    for i in range(replicates):
        out[i]["divergences"] = 0 if diverging is None else int(np.sum(diverging[i]))
        out[i]["accept_prob"] = float(np.mean(stats["accept_prob"][i]))
    return out


def sample_replicates(
    model,
    datasets,
    method,
    *,
    key=None,
    num_warmup=500,
    num_samples=500,
    num_chains=4,
    devices=None,
) -> ReplicatePosteriors:
    """The posterior of ``model`` given each of ``datasets``, every chain of every replicate
    in one vmapped, compiled computation (after one for every replicate's preparation; a
    method whose run length is chosen per dataset, approximate exchange's sweeps, runs one
    batch per length where that saves more than compiling the batches costs).

    Replicate ``r`` uses key ``jax.random.split(key, replicates)[r]`` (or ``key[r]`` for a
    batch of keys) exactly as
    :func:`sample_posterior` would with that key and dataset. A replicate whose preparation
    (a calibrated weight, a Monte Carlo curvature) or draws are not finite is marked in
    ``finite`` instead of raising, so one bad dataset does not lose the others; every
    replicate gets the verdict :func:`sample_posterior` would give it (``ok``, ``why``).

    Args:
      model: a :class:`bayesgen.Model`.
      datasets: shape ``(replicates, n, *event_shape)``, validated against the support.
      method: a string alias or a configured method object.
      key: PRNG key (``jax.random.key(0)`` if None), or one key per replicate.
      num_warmup, num_samples, num_chains: per replicate, as in :func:`sample_posterior`.
      devices: the replicates are spread evenly over these devices (every local device by
        default; a count or a list of devices restricts them); each device runs every
        chain of its share. The draws do not depend on the number of devices beyond
        floating-point rounding.

    Returns:
      A :class:`ReplicatePosteriors`.
    """
    method = resolve(method)
    check_counts(
        num_warmup=(num_warmup, 0), num_samples=(num_samples, 1), num_chains=(num_chains, 1)
    )
    method.check(model)
    method.check_chains(model, int(num_chains), "vectorized")
    datasets = model.validate_datasets(datasets)
    shape = tuple(datasets.shape)
    keys = replicate_keys(key, shape[0])
    statics = (method, model, int(num_warmup), int(num_samples), int(num_chains))

    spread = Spread.over(devices, shape[0])
    t0 = time.perf_counter()
    args = spread.put((keys, datasets), (0, 0))
    prepare = (_prepare_replicates, statics[:2] + statics[4:], *spread.statics((0, 0), 0))
    compiled = _compiled(model, spread_call, prepare, *args)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    extras = spread.take(jax.block_until_ready(compiled(*args)), 0)
    run_s = time.perf_counter() - t0
    samples, stats = {}, {}
    for idx in _groups(method, extras, shape[0]):
        group = Spread.over(spread.devices, len(idx))
        args = (keys[idx], datasets[idx], jax.tree.map(lambda v, i=idx: v[i], extras))
        args = group.put(args, (0, 0, 0))
        t0 = time.perf_counter()
        run = (_replicates, statics, *group.statics((0, 0, 0), 0))
        compiled = _compiled(model, spread_call, run, *args)
        compile_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        part = group.take(jax.block_until_ready(compiled(*args)), 0)
        run_s += time.perf_counter() - t0
        for out, new in zip((samples, stats), part, strict=True):
            for k, v in new.items():
                out.setdefault(k, np.empty((shape[0], *v.shape[1:]), v.dtype))[idx] = v

    extras = {k: np.asarray(v) for k, v in extras.items()}
    finite = np.ones(shape[0], bool)
    for v in (*samples.values(), *extras.values()):
        finite &= np.isfinite(v.reshape(shape[0], -1)).all(axis=1)
    diag = _replicate_diagnostics(samples, stats)
    checks = [
        posterior_checks(d, int(num_chains), _min_sds({k: v[i] for k, v in samples.items()}))
        for i, d in enumerate(diag)
    ]
    not_finite = Check("finite", False, 0.0, "the method's preparation or draws are not finite")
    checks = [c if f else {"finite": not_finite, **c} for c, f in zip(checks, finite, strict=True)]
    ok, why = verdicts(checks)
    r_hat = [max(v["r_hat"] for v in d.values() if isinstance(v, dict)) for d in diag]
    return ReplicatePosteriors(
        samples=samples,
        sample_stats=stats,
        finite=finite,
        diagnostics=checks,
        ok=ok,
        why=why,
        r_hat=np.array(r_hat),
        info=extras,
        method=method.name,
        normalizer=method.describe_normalizer(model),
        timing={"compile_s": compile_s, "run_s": run_s},
        device=spread.description,
    )


def sample_posterior(
    model,
    data,
    method,
    *,
    key=None,
    num_warmup=1000,
    num_samples=1000,
    num_chains=4,
    chain_method=None,
    progress=None,
    devices=None,
) -> PosteriorResult:
    """Sample the posterior of ``model`` given ``data`` with a Bayesian method.

    Args:
      model: a :class:`bayesgen.Model` (its ``prior`` is the prior).
      data: a batch of shape ``(n, *event_shape)``; validated against the model's support.
      method: a string alias (``"nuts"``, ``"exchange"``) or a configured method object.
      key: PRNG key; ``jax.random.key(0)`` if None.
      num_warmup, num_samples, num_chains: lengths (warm-up draws are discarded).
      chain_method: ``"vectorized"`` (default: all chains in one vmapped computation) or
        ``"sequential"`` (one chain after another, same compiled code).
      progress: print a line per chain phase on stderr; default: when stderr is a terminal.
      devices: vectorised chains are spread evenly over these devices (every local device
        by default; a count or a list of devices restricts them), each device running its
        share of the chains; the draws follow the same chains' law on any number of
        devices (a different batch layout changes the rounding, which a NUTS trajectory
        amplifies, so they need not be bitwise equal). A population whose members read
        each other (``exchange`` with ``population=True``), and sequential chains, run on
        the first device. ``device`` in the result names the devices used.

    Returns:
      A :class:`PosteriorResult`.
    """
    method = resolve(method)
    chain_method = chain_method or "vectorized"
    check_counts(
        num_warmup=(num_warmup, 0), num_samples=(num_samples, 1), num_chains=(num_chains, 1)
    )
    if chain_method not in CHAIN_METHODS:
        raise MethodError(f"unknown chain_method {chain_method!r}; choose one of {CHAIN_METHODS}")
    method.check(model)
    method.check_chains(model, num_chains, chain_method)
    data = model.validate(data)
    key = jax.random.key(0) if key is None else key
    kernel = _kernel(method, model)
    fields = method.stat_fields()
    show = show_progress(progress)
    keys = jax.random.split(key, num_chains + 1)  # the last one is the method's prepare key
    keys, k_prepare = keys[:num_chains], keys[num_chains]
    statics = (kernel, fields, int(num_warmup), int(num_samples))

    t0 = time.perf_counter()
    extras = jax.block_until_ready(method.prepare(model, data, k_prepare))
    prepare_s = time.perf_counter() - t0
    method.check_prepared(model, extras)

    t0 = time.perf_counter()
    if chain_method == "vectorized":
        init = _init_chains_compiled(model, kernel, int(num_warmup))
        states = [init(keys, data, extras)]
    else:
        init = _init_chains_compiled(model, kernel, int(num_warmup))
        states = [init(keys[c : c + 1], data, extras) for c in range(num_chains)]
    states = jax.block_until_ready(states)
    init_s = time.perf_counter() - t0

    together = chain_method == "vectorized" and not kernel.is_ensemble_kernel
    spread = Spread.over(devices, num_chains // len(states), spread=together)
    axes, out_axes = (0, None, None), (0, 1)  # state, data, extras; final state, draws
    args = [spread.put((state, data, extras), axes) for state in states]
    t0 = time.perf_counter()
    compiled = _compiled(
        model, spread_call, (_run, statics, *spread.statics(axes, out_axes)), *args[0]
    )
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    outputs = []
    with progress_bar(num_chains, method.name, show, unit="chain") as bar:
        for a in args:
            outputs.append(spread.take(jax.block_until_ready(compiled(*a)), out_axes))
            bar.update(num_chains // len(states))
    run_s = time.perf_counter() - t0

    # Each batch's draws are (draws, chains, ...): join the batches' chains, chains first.
    zs, stats = jax.tree.map(
        lambda *a: jnp.swapaxes(jnp.concatenate(a, 1), 0, 1), *[o[1] for o in outputs]
    )
    names = tuple(model.param_names)
    constrained = compiled_jit(model, _postprocess, kernel, names)(zs, data, extras)
    samples = {k: np.asarray(constrained[k]) for k in names}
    pointwise = compiled_jit(model, _postprocess, kernel, (LOG_LIKELIHOOD_SITE,))

    def log_likelihood():
        return pointwise(zs, data, extras)[LOG_LIKELIHOOD_SITE]

    return PosteriorResult(
        samples=samples,
        sample_stats={k: np.asarray(v) for k, v in stats.items()},
        pointwise=log_likelihood,
        observed=np.asarray(data),
        method=method.name,
        normalizer=method.describe_normalizer(model),
        timing={"prepare_s": prepare_s, "init_s": init_s, "compile_s": compile_s, "run_s": run_s},
        device=spread.description,
        info={
            k: np.asarray(v)
            for k, v in {
                **method.describe_info(model, extras),
                **method.describe_chains(model, num_chains),
            }.items()
        },
    )
