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

Written first as a functional kernel (:func:`init`, :func:`step`: pure, jit- and
vmap-able, the key is in the state), then wrapped as a NumPyro ``MCMCKernel``
(:class:`ExchangeKernel`) so that ``numpyro.infer.MCMC``, ``print_summary`` and ArviZ work
unchanged.

References: I. Murray, Z. Ghahramani, D. J. C. MacKay (2006), MCMC for doubly-intractable
distributions, UAI. A. Caimo, N. Friel (2011), Bayesian inference for exponential random
graph models, Social Networks 33. H. Haario, E. Saksman, J. Tamminen (2001), An adaptive
Metropolis algorithm, Bernoulli 7.
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
    z_new = unravel(flat_new)
    params_new = constrain(model, z_new)
    params_old = constrain(model, state.z)
    log_target_new = log_prior_unconstrained(model, z_new) + _log_likelihood(
        model, params_new, data, state.data_stats
    )
    log_ratio = (
        log_target_new
        - state.log_target
        + _auxiliary_log_ratio(model, method, params_old, params_new, data, k_aux, num_sweeps)
        + log_q_ratio
    )
    log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, -jnp.inf)
    accept_prob = jnp.exp(jnp.minimum(log_ratio, 0.0))
    accepted = jax.random.uniform(k_acc, (), flat.dtype) < accept_prob
    z = jax.tree.map(lambda a, b: jnp.where(accepted, a, b), z_new, state.z)
    log_target = jnp.where(accepted, log_target_new, state.log_target)

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
      thinning: exchange steps per recorded draw (the warm-up's too); None: 2 per scalar
        parameter. The recorded
        ``accept_prob`` is the mean over a draw's steps, ``accepted`` whether any moved.
      target_accept_prob: the warm-up adaptation's target acceptance rate.
      step_size: Langevin step size of the auxiliary sweeps for real data.
      start: ``"z_free"``: chains start around a Z-free estimate (maximum pseudo-likelihood
        for two-valued data, the discrete Fisher divergence for counts, score matching for
        real data; ``info["start.*"]``), spread by
        twice its sandwich standard errors, which also shape the first proposal;
        ``"prior"``: uniformly in [-1, 1] in unconstrained space, identity proposal.
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

    def kernel(self, model):
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

    def _init_one(self, rng_key, num_warmup, init_params, data, start, start_cov):
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
        return init(self.model, data, init_params, num_warmup * self.thinning, k_run, start_cov)

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
