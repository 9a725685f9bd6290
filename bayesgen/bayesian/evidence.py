"""The evidence log p(x) = log ∫ π(θ) L(θ; x) dθ: by annealing from the prior to the
posterior where the likelihood is exact, and through the adjusted pseudo-posterior where
Z(θ) is intractable.

Where the model has an exact log Z, both annealing methods anneal along
π_t(z) ∝ π(z) L(z)^t in unconstrained coordinates z (the prior density includes the
Jacobian, so the evidence is the same in any coordinates), moving particles with
random-walk Metropolis whose proposal covariance is (2.38² / d) times the particle
cloud's covariance at that temperature:

* ``"ais"``, annealed importance sampling (Neal 2001): ``num_particles`` independent runs
  along the fixed schedule t_k = (k/T)^4 (small steps near the prior, where the likelihood
  sharpens fastest). The proposal covariances come from a pilot run of 256 resampled
  particles, fixed before the main run, so the main particles stay independent: the
  evidence estimate is unbiased and its standard error is the delta method's, from the
  particles' weights.
* ``"smc"``, sequential Monte Carlo with adaptive tempering (Del Moral, Doucet & Jasra 2006;
  Jasra et al. 2011): each next temperature keeps the incremental weights' ESS at half the
  particles (bisection), then systematic resampling and ``num_mcmc_steps`` moves. With a
  fixed schedule and fixed proposals the product of mean incremental weights would be
  unbiased for p(x); here both adapt to the particles, so it is consistent (its bias
  vanishes with the particles). ``num_runs`` independent runs (vmapped) are averaged and
  give the standard error (delta method over runs; with the default 8 runs the standard
  error is itself uncertain by about ±27%).

Both estimate p(x) itself; log p(x) is biased low by about half the squared standard error.

Where Z(θ) is intractable (an ERGM with triangles, one large lattice) the likelihood cannot
be evaluated anywhere, so no annealing from prior to posterior can run. ``"adjusted_pl"``
(Bouranis, Friel & Maire 2018) uses the candidate's formula at the posterior mode ẑ,

    log p(x) = log π(ẑ) + log L(ẑ; x) - log π(ẑ | x),

with the one intractable number, log Z(ẑ) inside log L(ẑ; x), estimated once by data-space
AIS (:func:`bayesgen.normalizers.ais_log_normalizer`), and the posterior density at its
mode approximated by the adjusted pseudo-posterior's (:class:`PseudoPosterior`): the
pseudo-posterior π(z) PL(z; x), mapped by z ↦ ẑ + W (z - ẑ_PL) onto the true posterior's
mode and curvature, has at ẑ the density π(ẑ_PL) PL(ẑ_PL; x) / (|det W| p_PL(x)), where the
pseudo-evidence p_PL(x) = ∫ π PL is a tractable integral, computed by the same SMC. So

    log p(x) ≈ log π(ẑ) + log L(ẑ; x) + log |det W| - log π(ẑ_PL) - log PL(ẑ_PL; x)
               + log p_PL(x),

the evidence of the fully adjusted pseudo-likelihood (mode, curvature and magnitude).
It is exact where the pseudo-likelihood is the likelihood (independent sites: W = I up to
the Monte Carlo error of the mode) and an approximation elsewhere: the adjusted
pseudo-posterior has the posterior's mode and curvature but the pseudo-posterior's skew.
Its ``stderr`` is the Monte Carlo error of log Z(ẑ) (n times over) and of the
pseudo-evidence; the result says that it is an approximation (``exact=False``). The mode
and W are Monte Carlo too, and as the adjusted density is not exactly the posterior's the
formula's value moves with them: on the Florentine marriages (edges + triangles) three
seeds gave -59.27, -59.32, -59.21 with standard errors of 0.02-0.04, so the seed-to-seed
spread there is about 0.05 beyond the stated error (run two keys to see it). Measured against exact
evidences (``tests/bayesian/test_evidence.py``): Ising 4 x 4, n = 500, and a 6-node ERGM
with triangles, whose Z is enumerable.

References: R. M. Neal (2001), Annealed importance sampling, Statistics and Computing 11.
P. Del Moral, A. Doucet, A. Jasra (2006), Sequential Monte Carlo samplers, JRSS B 68.
A. Jasra, D. A. Stephens, A. Doucet, T. Tsagaris (2011), Inference for Lévy-driven
stochastic volatility models via adaptive sequential Monte Carlo, Scand. J. Stat. 38.
L. Bouranis, N. Friel, F. Maire (2018), Bayesian model selection for exponential random
graph models via adjusted pseudolikelihoods, J. Comput. Graph. Stat. 27.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bayesgen import losses
from bayesgen._compiled import per_model
from bayesgen.bayesian import modes
from bayesgen.bayesian.pseudo_posterior import PseudoPosterior, compiled_adjustment
from bayesgen.errors import IntractableNormalizerError, MethodError, check_counts
from bayesgen.normalizers import ais_log_normalizer
from bayesgen.normalizers.importance import log_mean_weight

__all__ = ["EVIDENCE_METHODS", "EvidenceResult", "log_evidence"]

EVIDENCE_METHODS = ("auto", "ais", "smc", "adjusted_pl")
_PILOT = 256


@dataclass(frozen=True)
class EvidenceResult:
    """``log_evidence`` with its Monte Carlo ``stderr``; ``method``, ``num_particles``,
    ``num_temperatures`` (mean over runs for SMC) and ``timing`` (compile, run seconds).

    ``exact``: whether the estimate converges to the exact evidence as the Monte Carlo
    effort grows (``"ais"``, ``"smc"``); ``"adjusted_pl"`` is an approximation whose
    ``stderr`` counts its Monte Carlo error only, and ``parts`` holds its pieces (the
    pseudo-evidence, log Z at the mode with its error, the modes, log |det W|)."""

    log_evidence: float
    stderr: float
    method: str
    num_particles: int
    num_temperatures: float
    timing: dict
    exact: bool = True
    parts: dict = field(default_factory=dict)


def log_evidence(
    model,
    data,
    method: str = "auto",
    *,
    key=None,
    num_particles: int = 1000,
    num_temperatures: int = 200,
    num_mcmc_steps: int = 5,
    num_runs: int = 8,
    adjustment: PseudoPosterior | None = None,
    log_z_particles: int = 400,
    log_z_temperatures: int = 250,
) -> EvidenceResult:
    """log p(data) under ``model`` and its prior, with its Monte Carlo standard error.

    Args:
      model: the model, with its prior.
      data: a batch ``(n, *event_shape)``.
      method: ``"smc"`` or ``"ais"`` (the exact likelihood needed), ``"adjusted_pl"`` (Z
        intractable, two-valued data), or ``"auto"``: ``"smc"`` where the model has an exact
        log Z, else ``"adjusted_pl"`` (see the module docstring).
      key: PRNG key; ``jax.random.key(0)`` if None.
      num_particles: particles (per run for SMC; also the pseudo-evidence's).
      num_temperatures: AIS schedule length (SMC chooses its own).
      num_mcmc_steps: Metropolis moves per temperature.
      num_runs: independent SMC runs (their spread is the standard error).
      adjustment: ``"adjusted_pl"`` only: the :class:`PseudoPosterior` whose mode and
        curvature adjustment is used (its simulation settings); the default one if None.
      log_z_particles, log_z_temperatures: ``"adjusted_pl"`` only: the data-space AIS for
        log Z at the posterior mode.

    Raises:
      IntractableNormalizerError: ``"smc"`` or ``"ais"`` on a model with no exact log Z.
      MethodError: unknown method, bad sizes, or ``"adjusted_pl"`` on a model it cannot
        handle (data not two-valued, no simulator, a singular Monte Carlo curvature).
    """
    if method not in EVIDENCE_METHODS:
        raise MethodError(f"unknown evidence method {method!r}; choose one of {EVIDENCE_METHODS}")
    if method == "auto":
        method = "smc" if model.has_exact_normalizer else "adjusted_pl"
    if method != "adjusted_pl" and not model.has_exact_normalizer:
        raise IntractableNormalizerError(
            f"the {method!r} evidence needs the exact likelihood, and {model!r} has no exact "
            "log Z; use method='adjusted_pl' (or 'auto'), the adjusted pseudo-likelihood's"
        )
    check_counts(
        num_particles=(num_particles, 2),
        num_temperatures=(num_temperatures, 1),
        num_mcmc_steps=(num_mcmc_steps, 1),
        num_runs=(num_runs, 2),
        log_z_particles=(log_z_particles, 2),
        log_z_temperatures=(log_z_temperatures, 1),
    )
    data = model.validate(data)
    key = jax.random.key(0) if key is None else key
    sizes = (int(num_particles), int(num_temperatures), int(num_mcmc_steps), int(num_runs))
    if method == "adjusted_pl":
        return _adjusted_pl(
            model,
            data,
            key,
            adjustment or PseudoPosterior(),
            sizes,
            log_z_particles,
            log_z_temperatures,
        )
    log_z, se, temps, timing = _run(_compiled(model, method, "exact", *sizes), data, key)
    return EvidenceResult(
        log_evidence=float(log_z),
        stderr=float(se),
        method=method,
        num_particles=int(num_particles),
        num_temperatures=float(temps),
        timing=timing,
    )


def _run(fn, *args):
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return (*out, {"compile_s": compile_s, "run_s": time.perf_counter() - t0})


def _adjusted_pl(model, data, key, method, sizes, log_z_particles, log_z_temperatures):
    """The candidate's formula at the posterior mode, with the adjusted pseudo-posterior's
    density there (module docstring)."""
    if not model.support.two_valued:
        raise MethodError(
            f"the adjusted pseudo-likelihood evidence needs two-valued data (its log Z by "
            f"data-space AIS), and {model!r} has {model.support.name} data"
        )
    method.check(model)
    if not method.adjust:
        raise MethodError("the adjusted pseudo-likelihood evidence needs adjust=True")
    k_adjust, k_pseudo, k_log_z = jax.random.split(key, 3)
    t0 = time.perf_counter()
    extras = jax.block_until_ready(compiled_adjustment(model, method)(data, k_adjust))
    adjust_s = time.perf_counter() - t0
    method.check_prepared(model, extras)
    pseudo, pseudo_se, temps, timing = _run(
        _compiled(model, "smc", "pseudo", *sizes), data, k_pseudo
    )
    pl_mode, mode, w = extras["pseudo_mode"], extras["posterior_mode"], extras["adjustment"]
    _, unravel = modes.unconstrained_zeros(model, data.dtype)
    params = modes.params_of(model, unravel, mode)
    t0 = time.perf_counter()
    log_z, log_z_se = ais_log_normalizer(
        model,
        params,
        k_log_z,
        num_particles=log_z_particles,
        num_temperatures=log_z_temperatures,
    )
    log_z_s = time.perf_counter() - t0
    log_prior = modes.flat_log_prior(model, unravel)
    n = data.shape[0]
    log_lik = jnp.sum(model.log_f_batch(params, data)) - n * log_z
    log_pl = -losses.total(
        losses.negative_log_pseudo_likelihood,
        model,
        modes.params_of(model, unravel, pl_mode),
        data,
    )
    log_det_w = jnp.linalg.slogdet(w)[1]
    value = log_prior(mode) + log_lik + log_det_w - log_prior(pl_mode) - log_pl + pseudo
    se = jnp.sqrt((n * log_z_se) ** 2 + pseudo_se**2)
    timing = {
        "compile_s": timing["compile_s"],
        "run_s": timing["run_s"] + adjust_s + log_z_s,
    }
    return EvidenceResult(
        log_evidence=float(value),
        stderr=float(se),
        method="adjusted_pl",
        num_particles=sizes[0],
        num_temperatures=float(temps),
        timing=timing,
        exact=False,
        parts={
            "pseudo_evidence": float(pseudo),
            "pseudo_evidence_se": float(pseudo_se),
            "log_z_at_mode": float(log_z),
            "log_z_se": float(log_z_se),
            "log_det_adjustment": float(log_det_w),
            **{k: float(v) for k, v in modes.labelled(model, "posterior_mode", mode).items()},
            **{k: float(v) for k, v in modes.labelled(model, "pseudo_mode", pl_mode).items()},
        },
    )


def _prior_draws(model, key, n, dtype):
    """``n`` prior draws as flat unconstrained vectors ``(n, d)``."""
    z = {}
    for j, (name, t) in enumerate(modes.bijections(model).items()):
        theta = model.prior[name].sample(jax.random.fold_in(key, j), (n,))
        z[name] = t.inv(theta.astype(dtype))
    return jax.vmap(lambda tree: ravel_pytree(tree)[0])(z)


def _rwm(log_prior, log_lik, t, z, lp, ll, chol, key, num_steps):
    """``num_steps`` random-walk Metropolis moves of every particle at temperature ``t``;
    ``lp``/``ll`` carry each particle's log prior and log-likelihood."""

    def one(carry, k):
        z, lp, ll = carry
        k_prop, k_acc = jax.random.split(k)
        prop = z + jax.random.normal(k_prop, z.shape, z.dtype) @ chol.T
        lp_new, ll_new = jax.vmap(log_prior)(prop), jax.vmap(log_lik)(prop)
        log_ratio = lp_new + t * ll_new - lp - t * ll
        log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, -jnp.inf)
        accept = jnp.log(jax.random.uniform(k_acc, lp.shape, z.dtype)) < log_ratio
        keep = lambda a, b: jnp.where(accept.reshape(-1, *([1] * (a.ndim - 1))), a, b)  # noqa: E731
        return (keep(prop, z), keep(lp_new, lp), keep(ll_new, ll)), None

    (z, lp, ll), _ = jax.lax.scan(one, (z, lp, ll), jax.random.split(key, num_steps))
    return z, lp, ll


def _proposal_chol(z, weights=None):
    d = z.shape[1]
    cov = jnp.cov(z, rowvar=False, aweights=weights).reshape(d, d)
    floor = 1e-10 * jnp.trace(cov) / d + jnp.finfo(z.dtype).eps  # a collapsed cloud still moves
    cov = cov + floor * jnp.eye(d, dtype=z.dtype)
    return jnp.linalg.cholesky((2.38**2 / d) * cov)


def _systematic(key, log_w):
    n = log_w.shape[0]
    w = jnp.exp(log_w - jax.nn.logsumexp(log_w))
    u = (jax.random.uniform(key, (), log_w.dtype) + jnp.arange(n)) / n
    return jnp.minimum(jnp.searchsorted(jnp.cumsum(w), u), n - 1)


@per_model
def _compiled(model, method, likelihood, num_particles, num_temperatures, num_mcmc_steps, num_runs):
    """The jitted ``(data, key) -> (log evidence, se, temperatures)`` of ``method`` with the
    ``"exact"`` likelihood or the ``"pseudo"``-likelihood."""

    def setup(data):
        _, unravel = modes.unconstrained_zeros(model, data.dtype)
        log_prior = modes.flat_log_prior(model, unravel)

        def log_lik(z):
            params = modes.params_of(model, unravel, z)
            if likelihood == "pseudo":
                return -losses.total(losses.negative_log_pseudo_likelihood, model, params, data)
            log_f = model.log_f_batch(params, data)
            return jnp.sum(log_f) - data.shape[0] * model.log_z(params)

        return log_prior, log_lik

    def start(log_prior, log_lik, key, n, dtype):
        z = _prior_draws(model, key, n, dtype)
        return z, jax.vmap(log_prior)(z), jax.vmap(log_lik)(z)

    def smc(data, key):
        log_prior, log_lik = setup(data)
        k0, k_loop = jax.random.split(key)
        z, lp, ll = start(log_prior, log_lik, k0, num_particles, data.dtype)
        target_ess = 0.5 * num_particles

        def ess_at(t_next, t, ll):
            log_w = (t_next - t) * jnp.where(jnp.isfinite(ll), ll, -jnp.inf)
            return jnp.exp(2 * jax.nn.logsumexp(log_w) - jax.nn.logsumexp(2 * log_w))

        def next_temperature(t, ll):
            def bisect(_, bounds):
                lo, hi = bounds
                mid = 0.5 * (lo + hi)
                ok = ess_at(mid, t, ll) >= target_ess
                return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

            one = jnp.ones((), t.dtype)
            lo, _ = jax.lax.fori_loop(0, 50, bisect, (t, one))
            return jnp.where(ess_at(one, t, ll) >= target_ess, one, jnp.maximum(lo, t + 1e-6))

        def body(carry):
            z, lp, ll, t, log_z, k, steps = carry
            k, k_res, k_move = jax.random.split(k, 3)
            t_next = jnp.minimum(next_temperature(t, ll), 1.0)
            log_w = (t_next - t) * jnp.where(jnp.isfinite(ll), ll, -jnp.inf)
            log_z = log_z + jax.nn.logsumexp(log_w) - jnp.log(num_particles)
            idx = _systematic(k_res, log_w)
            z, lp, ll = z[idx], lp[idx], ll[idx]
            chol = _proposal_chol(z)
            z, lp, ll = _rwm(log_prior, log_lik, t_next, z, lp, ll, chol, k_move, num_mcmc_steps)
            return z, lp, ll, t_next, log_z, k, steps + 1

        zero = jnp.zeros((), data.dtype)
        carry = (z, lp, ll, zero, zero, k_loop, jnp.zeros((), jnp.int32))
        carry = jax.lax.while_loop(lambda c: (c[3] < 1.0) & (c[6] < 10_000), body, carry)
        return carry[4], carry[6]

    def ais(data, key):
        log_prior, log_lik = setup(data)
        temps = (jnp.arange(num_temperatures + 1, dtype=data.dtype) / num_temperatures) ** 4
        k_pilot, k0, k_main = jax.random.split(key, 3)

        # Pilot: resampled particles along the same schedule give the proposal covariances.
        def pilot_step(carry, inputs):
            z, lp, ll = carry
            k, t_prev, t = inputs
            k_res, k_move = jax.random.split(k)
            idx = _systematic(k_res, (t - t_prev) * ll)
            z, lp, ll = z[idx], lp[idx], ll[idx]
            chol = _proposal_chol(z)
            z, lp, ll = _rwm(log_prior, log_lik, t, z, lp, ll, chol, k_move, num_mcmc_steps)
            return (z, lp, ll), chol

        keys = jax.random.split(k_pilot, num_temperatures + 1)
        pilot0 = start(log_prior, log_lik, keys[0], _PILOT, data.dtype)
        _, chols = jax.lax.scan(pilot_step, pilot0, (keys[1:], temps[:-1], temps[1:]))

        def step(carry, inputs):
            z, lp, ll, log_w = carry
            k, t_prev, t, chol = inputs
            log_w = log_w + (t - t_prev) * ll
            z, lp, ll = _rwm(log_prior, log_lik, t, z, lp, ll, chol, k, num_mcmc_steps)
            return (z, lp, ll, log_w), None

        z, lp, ll = start(log_prior, log_lik, k0, num_particles, data.dtype)
        carry = (z, lp, ll, jnp.zeros(num_particles, data.dtype))
        inputs = (jax.random.split(k_main, num_temperatures), temps[:-1], temps[1:], chols)
        (_, _, _, log_w), _ = jax.lax.scan(step, carry, inputs)
        log_z, se = log_mean_weight(log_w)
        return log_z, se, jnp.asarray(num_temperatures, data.dtype)

    def smc_runs(data, key):
        log_zs, steps = jax.vmap(lambda k: smc(data, k))(jax.random.split(key, num_runs))
        log_z, se = log_mean_weight(log_zs)
        return log_z, se, jnp.mean(steps.astype(data.dtype))

    return jax.jit(ais if method == "ais" else smc_runs)
