"""The Conway–Maxwell–Poisson distribution on the counts 0, 1, 2, ..., written as an
unnormalised mass function.

    log f_θ(x) = x log λ - ν log x!,    Z(λ, ν) = Σ_{j≥0} λ^j / (j!)^ν,

with rate λ > 0 and dispersion ν > 0 (ν = 1: Poisson; ν < 1 over-dispersed; ν > 1
under-dispersed). Z has no closed form; :mod:`bayesgen.normalizers.series` sums it in log
space with a bound on the remainder.

Exact sampling by rejection from an envelope built from the log-concavity of the terms
(log t_j = j log λ - ν log j! has decreasing increments d_j = log λ - ν log(j+1)): over a
window [lo, hi] around the mode the envelope is flat at the largest term; outside it, the
tangent lines at the window's ends, log t_{lo-k} ≤ log t_lo - k d_{lo-1} and
log t_{hi+k} ≤ log t_hi + k d_hi, are geometric tails. With the window about ±1 sd of the
terms (the lightest of four variants), 0.6 to 1 of the draws are accepted over λ in
[0.1, 50] and ν in [0.2, 3], about 0.78 however large the mode (the geometric envelope of
Benson & Friel (2021) accepts fewer as λ^{1/ν} grows: 1 in 250 at λ = 12, ν = 0.2);
``tests/models/test_conway_maxwell_poisson.py`` measures the rate and checks the envelope
pointwise. Beyond a largest term at j = 1e11 the draws are NaN (float64 no longer resolves
the terms' ratios). The method is
Devroye's (1987) idea for discrete log-concave laws, with the tangents taken exactly.

References: L. Devroye (1987), A simple generator for discrete log-concave distributions,
Computing 39; A. Benson, N. Friel (2021), Bayesian inference, model selection and
likelihood estimation using fast rejection sampling: the Conway–Maxwell–Poisson
distribution, Bayesian Analysis 16.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec, _is_traced
from bayesgen.normalizers.series import cmp_log_normalizer, largest_term
from bayesgen.support import Counts

__all__ = ["ConwayMaxwellPoisson"]

POOL_FACTOR = 1.3  # proposals per draw in each round (acceptance is 0.6-1)
MAX_ROUNDS = 200  # each accepts at least 0.35 x 1.3 n proposals on average
# Beyond a largest term at j = 1e11, float64 resolves log t_j - log t_mode only to about
# 1e-4 (0.2 at 1e14): draws there are NaN rather than inexact.
MAX_LOG_SAMPLED_MODE = math.log(1e11)


class ConwayMaxwellPoisson(Model):
    """Conway–Maxwell–Poisson counts with parameters ``rate`` (λ) and ``nu`` (ν).

    Default priors: ``rate ~ LogNormal(0, 2)``, ``nu ~ LogNormal(0, 1)`` (ν = 1 is Poisson).

    Example:
      >>> import jax, bayesgen as bg
      >>> model = bg.models.ConwayMaxwellPoisson()
      >>> x = model.sample(jax.random.key(0), {"rate": 4.0, "nu": 0.75}, 5)
      >>> x.shape
      (5,)
    """

    name = "cmp"
    normalizer = "exact: log-space series with a remainder bound"
    sampler = "exact: rejection from a log-concave envelope"
    has_exact_sampler = True
    mcmc_kernel = "independent exact draws (log-concave rejection)"
    statistic_names = ("x", "log x!")

    def __init__(self):
        super().__init__()
        self.support = Counts()
        self.params_spec = (
            ParamSpec("rate", (), constraints.positive, dist.LogNormal(0.0, 2.0), "rate λ"),
            ParamSpec("nu", (), constraints.positive, dist.LogNormal(0.0, 1.0), "dispersion ν"),
        )

    def __repr__(self) -> str:
        return "ConwayMaxwellPoisson()"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> ConwayMaxwellPoisson:
        """The CLI's constructor: a count is a scalar, so no shape is taken."""
        raise ParameterError(f"cmp takes no --shape (a count is a scalar); got {shape}")

    @property
    def default_truth(self) -> dict:
        """λ = 4, ν = 0.75: the setting of Matsubara et al. (2023)."""
        return {"rate": jnp.asarray(4.0), "nu": jnp.asarray(0.75)}

    def statistics(self, x):
        """(x, log x!): the sufficient statistics."""
        return jnp.stack([x, jax.lax.lgamma(x + 1.0)])

    exponential_family = True

    def natural_parameters(self, params):
        """(log λ, -ν): log f = x log λ - ν log x!."""
        return jnp.stack([jnp.log(params["rate"]), -params["nu"]])

    def expected_statistics(self, params):
        """(E x, E log x!) = (∂ log Z / ∂ log λ, -∂ log Z / ∂ν), from the series."""
        params = self.check_params(params)

        def log_z(log_rate, nu):
            return cmp_log_normalizer(jnp.exp(log_rate), nu)

        d_rate, d_nu = jax.grad(log_z, (0, 1))(jnp.log(params["rate"]), params["nu"])
        return jnp.stack([d_rate, -d_nu])

    def log_f(self, params, x):
        return x * jnp.log(params["rate"]) - params["nu"] * jax.lax.lgamma(x + 1.0)

    def log_normalizer(self, params):
        """Exact log Z(λ, ν) by the series (see :mod:`bayesgen.normalizers.series`).

        Raises:
          ParameterError: (λ, ν) outside the series' domain, where it returns NaN.
        """
        value = super().log_normalizer(params)
        if not _is_traced(value) and jnp.isnan(value):
            p = self.check_params(params)
            raise ParameterError(
                f"the CMP series cannot sum Z at rate={float(p['rate']):g}, "
                f"nu={float(p['nu']):g}: its terms peak beyond j = 2^50 or spread too wide for "
                "its window (ν near 0 with λ near 1); see bayesgen.normalizers.series"
            )
        return value

    def log_z(self, params):
        return cmp_log_normalizer(params["rate"], params["nu"])

    def draw(self, key, params, n):
        return _draws(key, params["rate"], params["nu"], n)

    @property
    def has_mcmc_kernel(self) -> bool:
        return True

    def mcmc_sweep(self, key, params, x, *, step_size=None):
        """An exact draw, independent of ``x``: a Markov kernel that leaves p_θ invariant."""
        return _draws(key, params["rate"], params["nu"], 1)[0]

    def mcmc_run(self, key, params, xs, num_sweeps, *, step_size=None):
        """One exact draw per chain (what any number of the independent sweeps amounts to)."""
        return self.draw(key, params, xs.shape[0])


def _envelope(rate, nu):
    """The rejection envelope: the window [lo, hi], the flat top, the log ratios of the
    geometric tails, and the log masses of (lower tail, flat top, upper tail).

    The window is mode - w_lo .. mode + w_hi with w_lo in {1, w} and w_hi in {0, w}, w the
    terms' sd rounded up, whichever of the four has the least mass. Every choice is valid:
    hi + 1 > λ^{1/ν} makes the upper tail's ratio d_hi < 0, and lo < λ^{1/ν} makes the
    lower tail's -d_{lo-1} < 0."""
    log_rate = jnp.log(rate)

    def log_t(j):
        return j * log_rate - nu * jax.lax.lgamma(j + 1.0)

    mode = largest_term(log_rate, nu)
    width = jnp.maximum(1.0, jnp.ceil(jnp.sqrt((mode + 0.5) / nu)))
    top = jnp.max(log_t(jnp.maximum(mode + jnp.array([-1.0, 0.0, 1.0]), 0.0)))
    lo = jnp.maximum(mode - jnp.stack([1.0, width, 1.0, width]), 0.0)
    hi = mode + jnp.stack([0.0, 0.0, width, width])
    log_rho_lo = -(log_rate - nu * jnp.log(lo))  # -d_{lo-1}: the lower tail's log ratio (< 0)
    log_rho_hi = log_rate - nu * jnp.log1p(hi)  # d_hi: the upper tail's log ratio (< 0)

    def tail_mass(log_t_end, log_rho):  # Σ_{k≥1} t_end ρ^k
        return log_t_end + log_rho - jnp.log(-jnp.expm1(log_rho))

    log_mass = jnp.stack(
        [
            jnp.where(lo > 0, tail_mass(log_t(lo), log_rho_lo), -jnp.inf),
            top + jnp.log(hi - lo + 1.0),
            tail_mass(log_t(hi), log_rho_hi),
        ]
    )  # (3 parts, 4 windows)
    best = jnp.argmin(jax.nn.logsumexp(log_mass, axis=0))
    return lo[best], hi[best], top, log_rho_lo[best], log_rho_hi[best], log_mass[:, best], log_t


def acceptance_rate(rate, nu):
    """The envelope sampler's probability of accepting a draw: Z / (envelope's mass)."""
    *_, log_mass, _ = _envelope(jnp.asarray(rate, float), jnp.asarray(nu, float))
    return jnp.exp(cmp_log_normalizer(rate, nu) - jax.nn.logsumexp(log_mass))


def _draws(key, rate, nu, n: int):
    """``n`` exact CMP(λ, ν) draws by rejection from :func:`_envelope`, in rounds: each
    round makes a pool of POOL_FACTOR n + 32 proposals at once and appends its accepted ones,
    in order, to the draws so far (a stream of i.i.d. proposals, thinned by acceptance, is a
    stream of i.i.d. draws), until ``n`` are filled; at an acceptance rate of 0.78 or more
    one round does. NaN for draws still unfilled after MAX_ROUNDS rounds (at an acceptance
    rate above 0.35, a probability below 1e-30), and at once for non-finite parameters."""
    lo, hi, top, log_rho_lo, log_rho_hi, log_mass, log_t = _envelope(rate, nu)
    dtype = top.dtype
    cdf = jnp.cumsum(jax.nn.softmax(log_mass))  # of the regions (lower, flat, upper)
    log_t_lo, log_t_hi = log_t(lo), log_t(hi)
    pool = int(POOL_FACTOR * n) + 32

    def propose(u):
        region = jnp.sum(u[:, :1] > cdf[:2], axis=-1)  # 0, 1 or 2 with their probabilities
        flat = jnp.minimum(lo + jnp.floor(u[:, 1] * (hi - lo + 1.0)), hi)
        log_rho = jnp.where(region == 0, log_rho_lo, log_rho_hi)
        steps = 1.0 + jnp.floor(jnp.log(u[:, 2]) / log_rho)  # P(k) ∝ ρ^k, k ≥ 1
        j = jnp.where(region == 1, flat, jnp.where(region == 0, lo - steps, hi + steps))
        envelope = jnp.where(
            region == 1, top, jnp.where(region == 0, log_t_lo, log_t_hi) + steps * log_rho
        )
        accept = (j >= 0) & (jnp.log(u[:, 3]) <= log_t(jnp.maximum(j, 0.0)) - envelope)
        return j, accept

    def cond(state):
        return (state[1] < n) & (state[2] < MAX_ROUNDS)

    def body(state):
        x, filled, r = state
        u = jax.random.uniform(
            jax.random.fold_in(key, r), (pool, 4), dtype=dtype, minval=jnp.finfo(dtype).tiny
        )
        j, accept = propose(u)
        slot = jnp.where(accept, filled + jnp.cumsum(accept) - 1, n)  # n: dropped
        x = x.at[slot].set(j, mode="drop")
        return x, jnp.minimum(filled + jnp.sum(accept), n), r + 1

    bad = ~(jnp.isfinite(rate) & jnp.isfinite(nu) & (rate > 0) & (nu > 0))
    bad = bad | (jnp.log(rate) / nu > MAX_LOG_SAMPLED_MODE)  # float64 cannot resolve terms
    start = (jnp.full((n,), jnp.nan, dtype), jnp.where(bad, n, 0), 0)
    return jax.lax.while_loop(cond, body, start)[0]
