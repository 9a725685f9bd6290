"""The exchange algorithm (Murray, Ghahramani & MacKay 2006), exact and approximate.

A random-walk Metropolis chain on θ (unconstrained coordinates) in which each proposal θ'
comes with an auxiliary dataset w of the same size as the data, drawn from p_θ'. The
acceptance ratio

    α = [π(θ') Π_i f_θ'(x_i) Π_i f_θ(w_i)] / [π(θ) Π_i f_θ(x_i) Π_i f_θ'(w_i)]

contains no normaliser: Z(θ')^n / Z(θ)^n from the likelihood cancels against the auxiliary
draw's. With exact auxiliary draws (``model.sample`` where the model samples exactly) the
chain targets the exact posterior. Where it cannot, w is the data after ``num_sweeps``
sweeps of ``model.mcmc_sweep`` at θ' (approximate exchange, Caimo & Friel 2011), which is
exact only in the limit of many sweeps. The choice is recorded in the result. By default
the number of sweeps is chosen before sampling from the kernel's own autocorrelation at the
Z-free start (:func:`bayesgen.samplers.mixing.sweeps_to_decorrelate`): the fewest of 5,
10, 20, ... whose lag correlation of the scores is at most ``max_lag_correlation``. An
auxiliary draw still correlated with the data pulls the posterior toward the prior (with
no sweeps at all the ratio is the prior's): a fixed 20 sweeps widened the posterior of one
32 x 32 lattice near the critical coupling by 23%, 80 sweeps by 7%. The slowest score sets
the count: at β = 0.4 on 16 x 16 (n = 100) the zero-field model took 40 checkerboard
sweeps and the model with a field at h = 0 took 320, for its magnetisation, Gibbs's
slowest mode near the critical coupling (0.033 against 0.32 s per step of 4 chains); with
the Swendsen–Wang kernel that the Ising model with a field now uses there
(:class:`~bayesgen.models.Ising`'s ``kernel``), 5 sweeps (0.088 s per step). The count
varies from dataset to dataset (the measured correlation's standard error near the target
is about 0.02): over 40 datasets of 16 x 16, n = 10, it was 20 to 160 Gibbs sweeps (from
the earlier floor of 20), so replicate studies run
replicates of equal count together (:attr:`Exchange.run_length`).

The proposal is Gaussian with a covariance and a scale that adapt during warm-up only
(the empirical covariance of the draws from the second quarter of warm-up on, shrunk
toward the first covariance, and a Robbins–Monro scale aimed at ``target_accept_prob``),
so the post-warm-up chain is a fixed Markov kernel. By default the chains start around a
Z-free estimate (maximum pseudo-likelihood or score matching), spread by twice its
sandwich standard errors, and the first proposal covariance is that sandwich covariance:
warm-up then only refines.

The auxiliary draw adds noise to the acceptance ratio: its log has variance
n δᵀ Cov_θ'(T) δ for an exponential family, about the squared length of the step δ in
posterior standard deviations. So the walk takes short steps, and its draws are strongly
autocorrelated in many dimensions (about 9 d steps per effective draw on a 25-parameter
Boltzmann machine). Two defaults follow from the number d of parameters:

- ``thinning``: each recorded draw (warm-up included) is 2 d exchange steps, so that the
  default 1,000 + 1,000 draws carry about 200 effective draws per chain at any d. An
  exchange step costs one auxiliary draw and no gradient, a small part of a NUTS draw.
  Measured at one step per draw: one 32 x 32 lattice (d = 1) had an ESS of about 515 of
  4,000 and an R-hat above 1.01 at one seed of four (1.014), against 865-1,034 and
  1.001-1.007 at two steps; Ising 4 x 4 with a field (d = 2) had an ESS of 55 per chain.
  On the Boltzmann machine, d steps per draw gave a bulk ESS of 430-470 of 4,000 and a
  largest R-hat over the 25 parameters of 1.013-1.022 (three seeds); 2 d steps gave
  860-1,000 and 1.007-1.008, in 54 s against NUTS's 12 s.
- ``independence_prob``: for d <= 2, once the warm-up has learnt the posterior's moments,
  half of the proposals are drawn independently from a Gaussian fitted to them (a mixture
  of a walk and an independence sampler, each step a valid Metropolis–Hastings step). An
  accepted one forgets the chain's position. In more dimensions the independent proposal
  is far from the current point (about 2 sqrt(d) posterior sds), the auxiliary noise
  grows with that distance and almost none is accepted, so the walk runs alone.

In an exponential family (a model that declares ``exponential_family``: log f_θ(x) =
η(θ) · T(x) + b(x)) every sum of log f is η · Σ T: the data's statistics are summed once,
and an exact auxiliary draw is a draw of the summed statistics alone
(``model.sample_statistics``), which costs less per datum than building the data where the
model draws the statistics directly (``benchmarks/exchange_statistics.py``: steps 3-4x
faster on Ising 4 x 4 with n = 500, 2.1-2.4x on the 25-parameter Boltzmann machine with
n = 2,000; unchanged with Gibbs auxiliary draws, whose sweeps are the cost).

With ``population=True`` the K chains of a run are one population, as in Bergm's ``bergm``
(Caimo & Friel 2011): in each sweep every member h in turn proposes
θ'_h = θ_h + γ (θ_i - θ_j) + ε from two other members i ≠ j at their current states (ter
Braak's 2006 differential-evolution MCMC) and takes the exchange acceptance above. Given the
others the step is symmetric and free of θ_h, so each update is a Metropolis–Hastings step
for θ_h's posterior and the sweep leaves the product of K posteriors invariant: each member
is a chain of the posterior, and the result has K chains, R-hat and ESS as for the walk
(which treat the chains as independent; they are at stationarity, but the moves couple them,
and 20,000 draws of 4 or 6 members on Ising 4 x 4 still matched the exact posterior to 0.013
sd in the means and 1.4% in the sds). The population's differences carry the posterior's
scale and correlation, so nothing adapts: warm-up is burn-in. γ defaults to ter Braak's
2.38 / sqrt(2 d), whose step has the covariance 2.38² Σ / d of the optimal random walk;
Bergm's 0.5 accepted 46% of proposals against 23% on the Florentine marriages (edges +
triangles, 4 chains, seeds 0-2) for a bulk ESS of 492-664 and 473-627 against 739-799 and
642-723 (the measurement below). ε ~ N(0, jitter² s²), s the other members' sds coordinate
by coordinate, keeps the population from being confined to its differences and, unlike
Bergm's fixed N(0, 0.0025 I), scales with the posterior; at jitter 0.1 four members started
in the prior's box [-1, 1] on Ising 4 x 4 (posterior sds 0.005) froze, all twelve
differences overshooting, and at 0.25 to 1 they converged; on the Florentine edges the
default 0.5 gave a bulk ESS of 739-799 (seeds 0-1) against 546-657 at 0.1. Measured against
the walk on the Florentine marriages (edges + triangles, approximate exchange with 5 sweeps,
1,000 + 1,000 draws of 2 d = 4 steps, one CPU core, seeds 0-2): posterior means -1.60 to
-1.64 and -0.13 to -0.18 (walk -1.59 to -1.62 and -0.15 to -0.18), sds 0.34-0.35 and
0.60-0.62 (walk 0.34-0.36 and 0.58-0.65), bulk ESS 739-799 and 642-723 of 4,000 (walk
893-1,054 and 1,020-1,264), largest R-hat 1.005-1.007 (walk 1.004-1.006), in 7.0-7.2 s
against 11.0-11.1 s: 90-113 effective draws a second against 80-115. With 8 chains (two
seeds): ESS 1,554-1,710 against 2,118-2,518, 112-124 a second against 104-127. A population
mixes less per draw than the adaptive walk, and costs less per step on one CPU core only
because vmapped chains cost more there: an exchange step took 245 us for one walk chain,
363 us per chain for four vmapped, 218-222 us per member of a population of 4 or 8 (updated
one after another). On an accelerator the walk's vmapped chains run in parallel and the
population's members do not.

Written first as a functional kernel (:func:`init`, :func:`step`: pure, jit- and
vmap-able, the key is in the state; :func:`population_init`, :func:`population_step` for
the population), then wrapped as a NumPyro ``MCMCKernel`` (:class:`ExchangeKernel`; the
population's :class:`PopulationExchangeKernel` is an ensemble kernel, its state holding
every chain) so that ``numpyro.infer.MCMC``, ``print_summary`` and ArviZ work unchanged.

References: I. Murray, Z. Ghahramani, D. J. C. MacKay (2006), MCMC for doubly-intractable
distributions, UAI. A. Caimo, N. Friel (2011), Bayesian inference for exponential random
graph models, Social Networks 33. H. Haario, E. Saksman, J. Tamminen (2001), An adaptive
Metropolis algorithm, Bernoulli 7. C. J. F. ter Braak (2006), A Markov chain Monte Carlo
version of the genetic algorithm Differential Evolution, Statistics and Computing 16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import is_prng_key

from bayesgen import losses
from bayesgen._compiled import per_model
from bayesgen.bayesian import modes
from bayesgen.bayesian.base import PosteriorMethod, unsupported
from bayesgen.bayesian.modes import constrain, log_prior_unconstrained
from bayesgen.errors import MethodError
from bayesgen.samplers.mixing import sweeps_to_decorrelate

AUXILIARY = ("auto", "exact", "mcmc")
DEFAULT_SWEEPS = 5  # the first auxiliary chain length tried, doubled until it decorrelates
# The independence proposal's sd relative to the warm-up posterior sd: wider than the
# target, so its tails cover the posterior's even where one chain's warm-up underestimated
# its spread (1.25 with four proposals in five independent left one chain of four on Ising
# 4 x 4 at a quarter of the others' acceptance, ESS 79 of 8,000 draws; 1.75 with one in
# two: ESS 581, and 543 on one 32 x 32 lattice against 373 for the walk alone).
INDEPENDENCE_WIDTH = 1.75
# The first proposal covariance's weight when the warm-up's estimate is shrunk toward it:
# SHRINKAGE_DRAWS d² steps, about d effective draws of a walk that needs about 9 d steps
# per effective draw. On a 25-parameter Boltzmann machine (n = 2,000) at one step per
# draw, the 750 collected warm-up steps were about 3 effective draws, and alone they gave
# a singular covariance that confined the chain to a subspace (R-hat 1.96); steps per
# effective draw were 204 with the Z-free sandwich kept, 219 at a weight of 100 d steps,
# 427 at 10 d. At the default thinning (2 d steps a draw) the warm-up collects 1,500 d
# steps, so the estimate carries 99% of the weight at d = 1 and 86% at d = 25.
SHRINKAGE_DRAWS = 10
# Up to this many parameters the walk is mixed with the independence proposal.
MAX_INDEPENDENCE_DIM = 2
# A population proposal moves one member along the difference of two others.
MIN_POPULATION = 3


class ExchangeState(NamedTuple):
    """State of one exchange chain. ``z``: unconstrained parameters (a dict)."""

    i: jax.Array
    z: dict
    # log prior (unconstrained, with Jacobian) + Σ_i log f_θ(x_i), up to Σ_i b(x_i)
    log_target: jax.Array
    accept_prob: jax.Array
    accepted: jax.Array
    log_scale: jax.Array
    mean: jax.Array  # running moments (Welford) of the warm-up draws, flat
    m2: jax.Array
    cov: jax.Array  # the proposal covariance (before the scale)
    cov0: jax.Array  # the first one, which the warm-up's estimate is shrunk toward
    count: jax.Array
    num_warmup: jax.Array
    rng_key: jax.Array
    data_stats: jax.Array  # Σ_i T(x_i) of an exponential family (else empty)


def _sum_log_f(model, params, xs):
    return jnp.sum(model.log_f_batch(params, xs))


def _log_likelihood(model, params, data, data_stats):
    """Σ_i log f_θ(x_i), from the summed statistics in an exponential family (up to the
    base measure Σ_i b(x_i), which is free of θ and cancels in every ratio)."""
    if model.exponential_family:
        return model.natural_parameters(params) @ data_stats
    return _sum_log_f(model, params, data)


def init(model, data, z, num_warmup, rng_key, cov=None) -> ExchangeState:
    """The state of a chain started at the unconstrained parameters ``z``, with the
    proposal covariance ``cov`` (scaled by 2.38²/d) or, if None, the identity scaled by 0.1²."""
    flat = ravel_pytree(z)[0]
    d = flat.size
    dtype = flat.dtype
    log_scale = jnp.log(0.1) if cov is None else jnp.log(2.38 / jnp.sqrt(d))
    cov = jnp.eye(d, dtype=dtype) if cov is None else jnp.asarray(cov, dtype)
    data_stats = model.summed_statistics(data) if model.exponential_family else jnp.zeros(0)
    data_stats = data_stats.astype(dtype)
    params = constrain(model, z)
    log_target = log_prior_unconstrained(model, z) + _log_likelihood(
        model, params, data, data_stats
    )
    return ExchangeState(
        i=jnp.zeros((), jnp.int32),
        z=z,
        log_target=log_target,
        accept_prob=jnp.zeros((), dtype),
        accepted=jnp.zeros((), bool),
        log_scale=jnp.asarray(log_scale, dtype),
        mean=jnp.zeros(d, dtype),
        m2=jnp.zeros((d, d), dtype),
        cov=cov,
        cov0=cov,
        count=jnp.zeros((), dtype),
        num_warmup=jnp.asarray(num_warmup, jnp.int32),
        rng_key=rng_key,
        data_stats=data_stats,
    )


def auxiliary_data(model, method, params, data, key, num_sweeps=None):
    """An auxiliary dataset like ``data`` from p_θ (exactly, or by ``num_sweeps`` sweeps from
    the data; default: the method's ``num_sweeps``)."""
    if method.auxiliary_kind(model) == "exact":
        return model.sample(key, params, data.shape[0])
    num_sweeps = method.num_sweeps if num_sweeps is None else num_sweeps
    return model.mcmc_run(key, params, data, num_sweeps, step_size=method.step_size)


def _auxiliary_log_ratio(model, method, params_old, params_new, data, key, num_sweeps):
    """Σ_i [log f_θ(w_i) - log f_θ'(w_i)] over an auxiliary dataset w from p_θ'; in an
    exponential family (η(θ) - η(θ')) · Σ_i T(w_i), and by exact sampling the draw of the
    summed statistics alone (:meth:`~bayesgen.model.Model.sample_statistics`)."""
    if not model.exponential_family:
        w = auxiliary_data(model, method, params_new, data, key, num_sweeps)
        return _sum_log_f(model, params_old, w) - _sum_log_f(model, params_new, w)
    if method.auxiliary_kind(model) == "exact":
        stats = model.sample_statistics(key, params_new, data.shape[0])
    else:
        stats = model.summed_statistics(
            auxiliary_data(model, method, params_new, data, key, num_sweeps)
        )
    eta_old, eta_new = model.natural_parameters(params_old), model.natural_parameters(params_new)
    return (eta_old - eta_new) @ stats.astype(eta_new.dtype)


def exchange_move(
    model, method, data, data_stats, z, log_target, z_new, log_q_ratio, k_aux, k_acc, num_sweeps
):
    """The exchange accept/reject of the proposal ``z_new`` from ``z`` (unconstrained dicts),
    where ``log_target`` is z's log prior + Σ_i log f_θ(x_i) and ``log_q_ratio`` is
    log q(z | z') - log q(z' | z) (0 for a symmetric proposal); the auxiliary draw at θ'
    uses ``k_aux``, the uniform ``k_acc``. Returns ``(z, log_target, accept_prob,
    accepted)`` after the move. Shared by the walk (:func:`step`) and the population
    (:func:`population_step`)."""
    params_new = constrain(model, z_new)
    params_old = constrain(model, z)
    log_target_new = log_prior_unconstrained(model, z_new) + _log_likelihood(
        model, params_new, data, data_stats
    )
    log_ratio = (
        log_target_new
        - log_target
        + _auxiliary_log_ratio(model, method, params_old, params_new, data, k_aux, num_sweeps)
        + log_q_ratio
    )
    log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, -jnp.inf)
    accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0))
    accepted = jax.random.uniform(k_acc, (), accept_prob.dtype) < accept_prob
    z = jax.tree.map(lambda a, b: jnp.where(accepted, a, b), z_new, z)
    log_target = jnp.where(accepted, log_target_new, log_target)
    return z, log_target, accept_prob, accepted


def step(model, method, data, state: ExchangeState, num_sweeps=None) -> ExchangeState:
    """One exchange update, with proposal adaptation while ``i < num_warmup``; approximate
    exchange's auxiliary draw takes ``num_sweeps`` sweeps (default: the method's)."""
    key, k_prop, k_aux, k_acc, k_mix = jax.random.split(state.rng_key, 5)
    flat, unravel = ravel_pytree(state.z)
    d = flat.size
    chol = jnp.linalg.cholesky(state.cov + 1e-12 * jnp.eye(d, dtype=flat.dtype))
    eps = jax.random.normal(k_prop, (d,), flat.dtype)
    # A random walk, or (once the moments have been learnt) with probability
    # independence_prob a draw from their Gaussian, widened: N(mean, c² cov).
    learnt = state.count > 2 * d + 10
    independence_prob = method.independence_prob_for(model.num_params)
    independent = learnt & (jax.random.uniform(k_mix, (), flat.dtype) < independence_prob)
    flat_new = jnp.where(
        independent,
        state.mean + INDEPENDENCE_WIDTH * chol @ eps,
        flat + jnp.exp(state.log_scale) * chol @ eps,
    )

    def log_q(v):  # the independence proposal's log density, up to a constant
        r = jax.scipy.linalg.solve_triangular(chol, v - state.mean, lower=True)
        return -0.5 * jnp.sum(r**2) / INDEPENDENCE_WIDTH**2

    log_q_ratio = jnp.where(independent, log_q(flat) - log_q(flat_new), 0.0)
    z, log_target, accept_prob, accepted = exchange_move(
        model,
        method,
        data,
        state.data_stats,
        state.z,
        state.log_target,
        unravel(flat_new),
        log_q_ratio,
        k_aux,
        k_acc,
        num_sweeps,
    )

    # Adaptation, warm-up only: Robbins-Monro on the walk's log scale (from its own steps);
    # moments from quarter 2 on.
    warm = state.i < state.num_warmup
    gain = (state.i + 1.0) ** -0.6
    log_scale = jnp.where(
        warm & ~independent,
        state.log_scale + gain * (accept_prob - method.target_accept_prob),
        state.log_scale,
    )
    collect = warm & (state.i >= state.num_warmup // 4)
    flat_z = ravel_pytree(z)[0]
    count = state.count + collect
    delta = flat_z - state.mean
    mean = state.mean + collect * delta / jnp.maximum(count, 1.0)
    m2 = state.m2 + collect * jnp.outer(delta, flat_z - mean)  # Welford
    enough = collect & (count > 2 * d + 10)
    # Shrunk toward the first covariance (see SHRINKAGE_DRAWS): a walk accepting one step
    # in five has few distinct points early on, and their covariance alone is singular.
    prior_weight = SHRINKAGE_DRAWS * d**2
    cov = jnp.where(
        enough, (prior_weight * state.cov0 + m2) / (prior_weight + count - 1.0), state.cov
    )
    return ExchangeState(
        i=state.i + 1,
        z=z,
        log_target=log_target,
        accept_prob=accept_prob,
        accepted=accepted,
        log_scale=log_scale,
        mean=mean,
        m2=m2,
        cov=cov,
        cov0=state.cov0,
        count=count,
        num_warmup=state.num_warmup,
        rng_key=key,
        data_stats=state.data_stats,
    )


class PopulationState(NamedTuple):
    """State of a population of K exchange chains, updated together (one key, one counter).

    ``z``: the members' unconstrained parameters, a dict of arrays ``(K, *shape)``;
    ``log_target``, ``accept_prob``, ``accepted``: per member ``(K,)``."""

    i: jax.Array  # sweeps done (each updates every member once)
    z: dict
    log_target: jax.Array
    accept_prob: jax.Array
    accepted: jax.Array
    rng_key: jax.Array
    data_stats: jax.Array  # Σ_i T(x_i) of an exponential family (else empty)


def population_init(model, data, z, rng_key) -> PopulationState:
    """The state of a population started at the members ``z`` (unconstrained, leading axis
    K; distinct points, or the population cannot move)."""
    flat = jax.vmap(lambda m: ravel_pytree(m)[0])(z)
    dtype = flat.dtype
    k = flat.shape[0]
    data_stats = model.summed_statistics(data) if model.exponential_family else jnp.zeros(0)
    data_stats = data_stats.astype(dtype)

    def log_target(m):
        return log_prior_unconstrained(model, m) + _log_likelihood(
            model, constrain(model, m), data, data_stats
        )

    return PopulationState(
        i=jnp.zeros((), jnp.int32),
        z=z,
        log_target=jax.vmap(log_target)(z),
        accept_prob=jnp.zeros(k, dtype),
        accepted=jnp.zeros(k, bool),
        rng_key=rng_key,
        data_stats=data_stats,
    )


def differential_evolution_proposal(key, flat, h, gamma, jitter):
    """ter Braak's (2006) proposal for member ``h`` of the population ``flat`` ``(K, d)``
    (flat unconstrained vectors, K >= 3): θ'_h = θ_h + γ (θ_i - θ_j) + ε, with i ≠ j two
    members other than h drawn uniformly and ε ~ N(0, jitter² diag(s²)), s² the variances
    of the K - 1 members other than h, coordinate by coordinate. Given the others, the
    step θ'_h - θ_h does not depend on θ_h and is symmetric ((i, j) and (j, i) are equally
    likely), so the Metropolis–Hastings ratio has no proposal term. Returns
    ``(θ'_h, (i, j))``."""
    k_pair, k_jitter = jax.random.split(key)
    k = flat.shape[0]
    pair = jax.random.choice(k_pair, k - 1, (2,), replace=False)
    pair = pair + (pair >= h)  # indices among the others, skipping h
    others = (jnp.arange(k) != h)[:, None]
    centre = jnp.sum(others * flat, 0) / (k - 1)
    sd = jnp.sqrt(jnp.sum(others * (flat - centre) ** 2, 0) / (k - 2))
    eps = jitter * sd * jax.random.normal(k_jitter, flat.shape[1:], flat.dtype)
    proposal = flat[h] + gamma * (flat[pair[0]] - flat[pair[1]]) + eps
    return proposal, (pair[0], pair[1])


def population_step(model, method, data, state: PopulationState, num_sweeps=None):
    """One sweep of the population: every member in turn (h = 0, ..., K - 1) proposes by
    :func:`differential_evolution_proposal` from the others' CURRENT states (members
    before h already moved in this sweep) and is accepted or rejected by the exchange
    ratio (:func:`exchange_move`). Each member's update leaves the product of K posteriors
    invariant given the others, so the sweep does too (ter Braak 2006). Approximate
    exchange's auxiliary draw takes ``num_sweeps`` sweeps (default: the method's)."""
    key, k_sweep = jax.random.split(state.rng_key)
    flat = jax.vmap(lambda m: ravel_pytree(m)[0])(state.z)
    unravel = ravel_pytree(jax.tree.map(lambda a: a[0], state.z))[1]
    size, d = flat.shape
    gamma = method.gamma_for(d)

    def member(carry, inputs):
        flat, log_target = carry
        h, k = inputs
        k_prop, k_aux, k_acc = jax.random.split(k, 3)
        proposal, _ = differential_evolution_proposal(k_prop, flat, h, gamma, method.jitter)
        z, lt, accept_prob, accepted = exchange_move(
            model,
            method,
            data,
            state.data_stats,
            unravel(flat[h]),
            log_target[h],
            unravel(proposal),
            0.0,
            k_aux,
            k_acc,
            num_sweeps,
        )
        flat = flat.at[h].set(ravel_pytree(z)[0])
        return (flat, log_target.at[h].set(lt)), (accept_prob, accepted)

    members = (jnp.arange(size), jax.random.split(k_sweep, size))
    (flat, log_target), (accept_prob, accepted) = jax.lax.scan(
        member, (flat, state.log_target), members
    )
    return state._replace(
        i=state.i + 1,
        z=jax.vmap(unravel)(flat),
        log_target=log_target,
        accept_prob=accept_prob,
        accepted=accepted,
        rng_key=key,
    )


@dataclass(frozen=True)
class Exchange(PosteriorMethod):
    """The exchange algorithm.

    Args:
      auxiliary: ``"exact"`` (the model's exact sampler), ``"mcmc"`` (``num_sweeps`` sweeps
        of ``model.mcmc_sweep`` from the data: approximate exchange) or ``"auto"`` (exact
        where the model samples exactly).
      num_sweeps: sweeps per auxiliary draw when ``"mcmc"``; None: chosen before sampling
        from the kernel's autocorrelation at the Z-free start (see the module docstring),
        at most ``max_sweeps``, and reported in ``info["num_sweeps"]``.
      max_lag_correlation, max_sweeps: the choice's target and bound.
      independence_prob: after the warm-up has learnt the posterior's mean and covariance,
        the share of proposals drawn independently from N(mean, 1.75² cov) instead of the
        random walk. 0: the walk alone; None: 0.5 with at most 2 parameters, else 0 (see
        the module docstring).
      thinning: exchange steps per recorded draw (the warm-up's too; with ``population``,
        sweeps of the population); None: 2 per scalar parameter. The recorded
        ``accept_prob`` is the mean over a draw's steps, ``accepted`` whether any moved.
      target_accept_prob: the warm-up adaptation's target acceptance rate (the walk's;
        the population does not adapt).
      step_size: Langevin step size of the auxiliary sweeps for real data.
      start: ``"z_free"``: chains start around a Z-free estimate (maximum pseudo-likelihood
        for two-valued data, the discrete Fisher divergence for counts, score matching for
        real data; ``info["start.*"]``), spread by
        twice its sandwich standard errors, which also shape the first proposal;
        ``"prior"``: uniformly in [-1, 1] in unconstrained space, identity proposal.
      population: the chains of a run form one population (Bergm's ``bergm``; see the
        module docstring), updated member by member with differential-evolution
        proposals θ'_h = θ_h + γ (θ_i - θ_j) + ε from two other members; needs
        ``num_chains >= 3`` and ``chain_method="vectorized"``. False: independent chains,
        each an adaptive random walk.
      gamma: the population's move factor γ; None: 2.38 / sqrt(2 d) (ter Braak's optimum
        for a Gaussian target; see the module docstring).
      jitter: the sd of the population's jitter ε relative to the spread of the other
        members, coordinate by coordinate (see :func:`differential_evolution_proposal`).
    """

    auxiliary: str = "auto"
    num_sweeps: int | None = None
    max_lag_correlation: float = 0.05
    max_sweeps: int = 2560
    independence_prob: float | None = None
    thinning: int | None = None
    target_accept_prob: float = 0.3
    step_size: float = 0.1
    start: str = "z_free"
    population: bool = False
    gamma: float | None = None
    jitter: float = 0.5
    name = "exchange"
    run_length = "num_sweeps"

    def prepare(self, model, data, key) -> dict:
        extras = {}
        z_free = _z_free_loss(model) is not None
        if z_free and (self.start == "z_free" or self._chooses_sweeps(model)):
            extras = _z_free_start(model)(data)
        if self._chooses_sweeps(model):
            origin, unravel = modes.unconstrained_zeros(model, data.dtype)
            at = extras["start"] if z_free else origin
            extras["num_sweeps"], profile = sweeps_to_decorrelate(
                model,
                modes.params_of(model, unravel, at),
                data,
                key,
                start=DEFAULT_SWEEPS,
                max_sweeps=self.max_sweeps,
                target=self.max_lag_correlation,
                step_size=self.step_size,
            )
            extras["lag_correlation"] = profile[0]
        if self.start != "z_free":  # the Z-free fit only placed the pilot chains
            extras.pop("start", None)
            extras.pop("start_cov", None)
        return extras

    def _chooses_sweeps(self, model) -> bool:
        return self.num_sweeps is None and self.auxiliary_kind(model) == "mcmc"

    def describe_info(self, model, extras: dict) -> dict:
        info = modes.labelled(model, "start", extras["start"]) if "start" in extras else {}
        for k in ("num_sweeps", "lag_correlation"):
            if k in extras:
                info[k] = extras[k]
        info["thinning"] = self.thinning_for(model.num_params)
        return info

    def gamma_for(self, num_params: int) -> float:
        """The population's move factor γ with ``num_params`` parameters."""
        if self.gamma is not None:
            return float(self.gamma)
        return 2.38 / (2.0 * num_params) ** 0.5

    def independence_prob_for(self, num_params: int) -> float:
        """The share of independence proposals with ``num_params`` parameters."""
        if self.independence_prob is not None:
            return self.independence_prob
        return 0.5 if num_params <= MAX_INDEPENDENCE_DIM else 0.0

    def thinning_for(self, num_params: int) -> int:
        """Exchange steps per recorded draw with ``num_params`` parameters."""
        if self.thinning is not None:
            return self.thinning
        return 2 * num_params

    def auxiliary_kind(self, model) -> str:
        if self.auxiliary == "auto":
            return "exact" if model.has_exact_sampler else "mcmc"
        return self.auxiliary

    def describe_normalizer(self, model) -> str:
        if self.auxiliary_kind(model) == "exact":
            return f"cancelled: exact auxiliary draw ({model.sampler})"
        sweeps = self.num_sweeps or "autocorrelation-chosen"
        return (
            f"cancelled approximately: auxiliary draw by {sweeps} sweeps of "
            f"{model.mcmc_kernel} from the data"
        )

    def check(self, model) -> None:
        if self.auxiliary not in AUXILIARY:
            raise unsupported(self, model, f"unknown auxiliary {self.auxiliary!r}", AUXILIARY)
        if self.auxiliary == "exact" and not model.has_exact_sampler:
            raise unsupported(self, model, f"its sampler is {model.sampler!r}", "auxiliary='mcmc'")
        if self.auxiliary_kind(model) == "mcmc" and not model.has_mcmc_kernel:
            raise unsupported(self, model, "it has no data-space Markov kernel", "nuts")
        if self.start not in ("z_free", "prior"):
            raise unsupported(self, model, f"unknown start {self.start!r}", "'z_free' or 'prior'")
        if self.thinning is not None and (int(self.thinning) != self.thinning or self.thinning < 1):
            raise unsupported(self, model, f"thinning {self.thinning!r}", "a positive integer")
        if self.independence_prob is not None and not 0 <= self.independence_prob <= 1:
            raise unsupported(
                self, model, f"independence_prob {self.independence_prob!r}", "a number in [0, 1]"
            )
        if self.population and self.independence_prob not in (None, 0):
            raise unsupported(
                self,
                model,
                "independence_prob mixes independence proposals into the walk, and "
                "population=True has no walk",
                "independence_prob=None with population=True",
            )
        if self.gamma is not None and not self.gamma > 0:
            raise unsupported(self, model, f"gamma {self.gamma!r}", "a positive number")
        if not self.jitter > 0:
            raise unsupported(
                self,
                model,
                f"jitter {self.jitter!r} (the population must be able to leave "
                "the span of its differences)",
                "a positive number",
            )

    def check_chains(self, model, num_chains: int, chain_method: str) -> None:
        if not self.population:
            return
        if num_chains < MIN_POPULATION:
            raise MethodError(
                f"exchange with population=True needs num_chains >= {MIN_POPULATION} (each "
                f"proposal moves one chain along the difference of two others); got "
                f"num_chains={num_chains}. Use num_chains >= {MIN_POPULATION} (Bergm's default "
                f"is 2 d = {2 * model.num_params}), or population=False for independent chains"
            )
        if chain_method != "vectorized":
            raise MethodError(
                f"exchange with population=True updates its chains together, one population; "
                f"chain_method={chain_method!r} runs chains apart. Use chain_method='vectorized'"
            )

    def describe_chains(self, model, num_chains: int) -> dict:
        if not self.population:
            return {}
        gamma = self.gamma_for(model.num_params)
        return {
            "sampler": f"population MCMC of {num_chains} chains, differential-evolution "
            f"proposals (gamma {gamma:.3g}, jitter {self.jitter:g} population sds)",
            "population": num_chains,
            "gamma": gamma,
        }

    def kernel(self, model):
        if self.population:
            return PopulationExchangeKernel(model, self)
        return ExchangeKernel(model, self)

    def stat_fields(self):
        return ("accept_prob", "accepted")


class ExchangeKernel(MCMCKernel):
    """:func:`init`/:func:`step` as a NumPyro ``MCMCKernel``: ``MCMC(ExchangeKernel(model,
    Exchange()), ...).run(key, data)``. Chains start uniformly in [-1, 1] in unconstrained
    space (or at ``init_params``, unconstrained); vectorised chains are handled here."""

    sample_field = "z"

    def __init__(self, model, method: Exchange):
        self.model, self.method = model, method
        self.thinning = method.thinning_for(model.num_params)

    def _start(self, rng_key, init_params, data, start, start_cov):
        """One chain's starting point (unconstrained) and the key of its run."""
        k_init, k_run = jax.random.split(rng_key)
        if init_params is None and start is not None:  # overdispersed around the estimate
            chol = jnp.linalg.cholesky(start_cov)
            eps = jax.random.normal(k_init, start.shape, start.dtype)
            unravel = modes.unconstrained_zeros(self.model, start.dtype)[1]
            init_params = unravel(start + 2.0 * chol @ eps)
        elif init_params is None:
            init_params = {
                s.name: jax.random.uniform(
                    jax.random.fold_in(k_init, j),
                    modes.bijections(self.model)[s.name].inverse_shape(s.shape),
                    data.dtype,
                    -1.0,
                    1.0,
                )
                for j, s in enumerate(self.model.params_spec)
            }
        return init_params, k_run

    def _init_one(self, rng_key, num_warmup, init_params, data, start, start_cov):
        z, k_run = self._start(rng_key, init_params, data, start, start_cov)
        return init(self.model, data, z, num_warmup * self.thinning, k_run, start_cov)

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        (data,) = model_args
        start = model_kwargs.get("start") if model_kwargs else None
        start_cov = model_kwargs.get("start_cov") if model_kwargs else None
        if is_prng_key(rng_key):
            return self._init_one(rng_key, num_warmup, init_params, data, start, start_cov)
        axes = None if init_params is None else 0
        return jax.vmap(self._init_one, (0, None, axes, None, None, None))(
            rng_key, num_warmup, init_params, data, start, start_cov
        )

    def sample(self, state, model_args, model_kwargs):
        (data,) = model_args
        sweeps = (model_kwargs or {}).get("num_sweeps")

        def one(s):
            def body(s, _):
                s = step(self.model, self.method, data, s, sweeps)
                return s, (s.accept_prob, s.accepted)

            s, (probs, moved) = jax.lax.scan(body, s, None, length=self.thinning)
            return s._replace(accept_prob=probs.mean(), accepted=moved.any())

        return one(state) if state.i.ndim == 0 else jax.vmap(one)(state)

    def postprocess_fn(self, model_args, model_kwargs):
        return lambda z: constrain(self.model, z)


class PopulationExchangeKernel(ExchangeKernel):
    """:func:`population_init`/:func:`population_step` as a NumPyro ensemble kernel
    (``is_ensemble_kernel``): its state holds every chain, so it runs under
    ``MCMC(PopulationExchangeKernel(model, Exchange(population=True)), num_chains=K,
    chain_method="vectorized")`` (``init`` takes the batch of K keys, ``sample`` updates
    the whole population) and under bayesgen's driver. Members start as the walk's chains
    do (the same points for the same keys)."""

    @property
    def is_ensemble_kernel(self):
        return True

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        (data,) = model_args
        kwargs = model_kwargs or {}
        start, start_cov = kwargs.get("start"), kwargs.get("start_cov")
        if is_prng_key(rng_key):  # NumPyro hands one key per chain unless vectorized
            raise MethodError(
                "the population exchange kernel initialises every chain at once, from a batch "
                "of keys: run it with num_chains >= 3 and chain_method='vectorized'"
            )
        self.method.check_chains(self.model, rng_key.shape[0], "vectorized")
        axes = None if init_params is None else 0
        z, k_run = jax.vmap(self._start, (0, axes, None, None, None))(
            rng_key, init_params, data, start, start_cov
        )
        return population_init(self.model, data, z, k_run[0])

    def sample(self, state, model_args, model_kwargs):
        (data,) = model_args
        sweeps = (model_kwargs or {}).get("num_sweeps")

        def body(s, _):
            s = population_step(self.model, self.method, data, s, sweeps)
            return s, (s.accept_prob, s.accepted)

        state, (probs, moved) = jax.lax.scan(body, state, None, length=self.thinning)
        return state._replace(accept_prob=probs.mean(0), accepted=moved.any(0))


def _z_free_loss(model):
    """The Z-free loss whose minimiser starts the chains (:func:`bayesgen.losses.z_free_start`),
    or None for this model."""
    name = losses.z_free_start(model)
    return None if name is None else losses.BY_NAME[name]


@per_model
def _z_free_start(model):
    """A jitted ``data -> {"start", "start_cov"}``: a Z-free estimate and its sandwich
    covariance, in unconstrained coordinates."""
    loss = _z_free_loss(model)

    @jax.jit
    def start(data):
        z_hat, hess, info = modes.z_free_fit(model, loss, data)
        h_inv = jnp.linalg.pinv(hess, hermitian=True)  # a unit vector's radius: unidentified
        if data.shape[0] > z_hat.size + 1:
            cov = h_inv @ info @ h_inv / data.shape[0]
        else:  # too few data for the sandwich's meat (one lattice): the inverse Hessian,
            cov = h_inv / data.shape[0]  # too narrow where sites depend; warm-up widens it
        cov = 0.5 * (cov + cov.T) + 1e-12 * jnp.eye(z_hat.size, dtype=z_hat.dtype)
        return {"start": z_hat, "start_cov": cov}

    return start
