"""log Z of the Conway–Maxwell–Poisson distribution by a log-space series with a bound on
its remainder.

    Z(λ, ν) = Σ_{j≥0} t_j,   log t_j = j log λ - ν log j!,

summed as a log-sum-exp over a fixed number N of terms (a static shape: jit-able and
differentiable in λ and ν to any order) placed around the largest term. The ratio of
consecutive terms, t_{j+1}/t_j = λ/(j+1)^ν, falls with j, so the terms rise to their
largest at j* = ⌊λ^{1/ν}⌋ and fall after it, and the terms left out on either side are
bounded by geometric series:

    Σ_{j>b} t_j ≤ t_b r/(1 - r),  r = λ/(b+1)^ν < 1;   Σ_{j<a} t_j ≤ t_a q/(1 - q),  q = a^ν/λ < 1.

Where the terms' spread (sd ≈ √((j* + ½)/ν)) fits in the N terms (sd ≤ N/40, e.g. every
λ ≤ 50 with ν ≥ 0.4), the window holds consecutive terms: the truncated series itself, and
the bound above is a rigorous bound on what was left out. Wider (λ = 50, ν = 0.2: the
largest term is at j* = 3e8, sd 4e4) it takes every s-th term times s, s = ⌈40 sd / N⌉:
the trapezoid rule on the smooth, log-concave sequence, whose error falls like
exp(-2π² (sd/s)²), below 1e-280 at sd/s > N/80 = 25.6, provided no boundary term enters:
the window stays clear of j = 0, or the terms there are below e^-40 of Z.

Where neither holds, log Z is NaN rather than wrong: a window whose bound on the terms
left out exceeds e^-30 of Z (λ just below 1 with ν near 0, whose terms fall by less than
1e-4 a step), a strided window that reaches j = 0 where t_0 = 1 is not negligible (λ
just above 1 with ν below about 0.05), and a largest term beyond j = 2^50, past exact
float64 integers (λ = 50 with ν < 0.11).
:meth:`bayesgen.models.ConwayMaxwellPoisson.log_normalizer` turns that into an error that
says so. ``tests/normalizers/test_series.py`` checks both regimes against
mpmath over λ in [0.1, 50] and ν in [0.2, 3], and the NaN cases.

In float64, log t_j carries an absolute rounding error of about 1e-16 ν log j*!, so log Z
is accurate to about 1e-14 relative (not absolute) when it is large.

References: R. W. Conway, W. L. Maxwell (1962); G. Shmueli, T. P. Minka, J. B. Kadane,
S. Borle, P. Boatwright (2005), A useful distribution for fitting discrete data: revival of
the Conway–Maxwell–Poisson distribution, JRSS C 54.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "MAX_LOG_BOUND",
    "NUM_TERMS",
    "Series",
    "cmp_log_normalizer",
    "cmp_series",
    "largest_term",
]

NUM_TERMS = 2048  # terms evaluated per log Z (a static shape)
WINDOW_SDS = 40.0  # the window spans this many standard deviations of the terms, or more
MAX_LOG_BOUND = -30.0  # log Z is NaN where the terms left out may exceed e^-30 of Z
MAX_LOG_MODE = math.log(2.0**50)  # the largest term's index must be an exact float64 integer
MAX_LOG_T0 = -40.0  # a strided window may start at j = 0 only where t_0 is below e^-40 of Z


def largest_term(log_rate, nu):
    """j* = ⌊λ^{1/ν}⌋, where the terms peak (from log λ), capped at 2^50 where j would no
    longer be an exact float64 integer (log Z is then NaN, see :func:`cmp_series`)."""
    return jnp.floor(jnp.exp(jnp.minimum(log_rate / nu, MAX_LOG_MODE)))


def _window(log_rate, nu, num_terms: int):
    """(first index a, stride s) of the window, as floats, from the parameters (no
    gradient: the window is a choice, not a function to differentiate)."""
    log_rate, nu = jax.lax.stop_gradient(log_rate), jax.lax.stop_gradient(nu)
    mode = largest_term(log_rate, nu)
    sd = jnp.sqrt((mode + 0.5) / nu)
    stride = jnp.maximum(1.0, jnp.ceil(WINDOW_SDS * sd / num_terms))
    start = mode - stride * (num_terms // 2)
    return jnp.maximum(0.0, start), stride, (stride == 1) | (start > 0)


class Series(NamedTuple):
    """What :func:`cmp_series` summed.

    Attributes:
      log_z: log Z(λ, ν); NaN where the window cannot sum it (see the module docstring).
      log_bound: a bound on log(Σ of the terms outside the window / Z) (``inf`` where the
        geometric bound does not apply).
      first: the window's first index j.
      stride: 1 where the window holds consecutive terms (the truncated series), else the
        trapezoid's step.
    """

    log_z: jax.Array
    log_bound: jax.Array
    first: jax.Array
    stride: jax.Array


def cmp_series(rate, nu, num_terms: int = NUM_TERMS) -> Series:
    """log Z of CMP(λ = ``rate``, ν = ``nu``), with its window and remainder bound (a
    :class:`Series`). jit/vmap-able; ``log_z`` is differentiable in both parameters."""
    rate, nu = jnp.asarray(rate), jnp.asarray(nu)
    dtype = jnp.result_type(rate, nu, float)
    log_rate = jnp.log(rate.astype(dtype))
    nu = nu.astype(dtype)
    first, stride, clear_of_zero = _window(log_rate, nu, num_terms)
    j = first + stride * jnp.arange(num_terms, dtype=dtype)
    log_t = j * log_rate - nu * jax.lax.lgamma(j + 1.0)
    log_z = jnp.log(stride) + jax.nn.logsumexp(log_t)

    # Geometric bounds on the terms below the window and above it.
    last = j[-1]
    log_r = log_rate - nu * jnp.log1p(last)  # log t_{b+1}/t_b at the last index b
    upper = log_t[-1] + log_r - jnp.log(-jnp.expm1(jnp.minimum(log_r, 0.0)))
    upper = jnp.where(log_r < 0, upper, jnp.inf)
    log_q = nu * jnp.log(jnp.maximum(first, 1.0)) - log_rate  # log t_{a-1}/t_a at a = first
    lower = log_t[0] + log_q - jnp.log(-jnp.expm1(jnp.minimum(log_q, 0.0)))
    lower = jnp.where(first > 0, jnp.where(log_q < 0, lower, jnp.inf), -jnp.inf)
    log_bound = jax.lax.stop_gradient(jnp.logaddexp(upper, lower) - log_z)
    # a strided window that reaches j = 0 is exact only where t_0 = 1 is negligible
    negligible_at_zero = jax.lax.stop_gradient(jnp.log(stride) - log_z) < MAX_LOG_T0
    valid = (
        (log_bound < MAX_LOG_BOUND)
        & (clear_of_zero | negligible_at_zero)
        & (jax.lax.stop_gradient(log_rate / nu) < MAX_LOG_MODE)
    )
    return Series(jnp.where(valid, log_z, jnp.nan), log_bound, first, stride)


def cmp_log_normalizer(rate, nu, num_terms: int = NUM_TERMS):
    """log Z(λ, ν) = log Σ_j λ^j / (j!)^ν, differentiable (see the module docstring)."""
    return cmp_series(rate, nu, num_terms).log_z
