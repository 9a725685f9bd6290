"""The kernel Stein discrepancy of a model against data: goodness of fit without Z.

    KSD²(p, q) = E_{x, x' ~ q} κ_p(x, x'),

where the Stein kernel κ_p has E_{x ~ p} κ_p(x, y) = 0 for every y, so KSD² is zero when the
data come from p and positive otherwise (for a characteristic base kernel). κ_p needs p
only through a score that is free of Z:

* real data (Liu, Lee & Jordan 2016; Chwialkowski et al. 2016): s(x) = ∇_x log f(x), with
  the inverse multi-quadric base kernel k(x, y) = (1 + ||x - y||²)^(-1/2) (Gorham & Mackey
  2017), κ = s(x)ᵀs(y) k + s(x)ᵀ∇_y k + s(y)ᵀ∇_x k + tr ∇_x∇_y k;
* two-valued data (Yang, Liu, Rao & Neville 2018): the flip ¬_i of site i, the difference
  score s(x)_i = 1 - f(¬_i x)/f(x) (from ``model.log_conditionals``), the operator
  Δ*g(x)_i = g(x) - g(¬_i x), the exponential Hamming kernel k(x, y) = exp(-H(x, y)/d), and
  κ = s(x)ᵀs(y) k - s(x)ᵀΔ*_y k - Δ*_x kᵀ s(y) + tr Δ*_x Δ*_y k.

:func:`kernel_stein_discrepancy` returns the U-statistic (1/(n(n-1))) Σ_{i≠j} κ(x_i, x_j),
unbiased for KSD² (so it can be slightly negative when the fit is good), jitted per model.

References: Q. Liu, J. Lee, M. Jordan (2016), A kernelized Stein discrepancy for
goodness-of-fit tests, ICML. K. Chwialkowski, H. Strathmann, A. Gretton (2016), A kernel
test of goodness of fit, ICML. J. Gorham, L. Mackey (2017), Measuring sample quality with
kernels, ICML. J. Yang, Q. Liu, V. Rao, J. Neville (2018), Goodness-of-fit testing for
discrete distributions via Stein discrepancy, ICML.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from bayesgen._compiled import per_model
from bayesgen.errors import MethodError
from bayesgen.support import Reals

__all__ = ["MAX_DISCRETE_SITES", "kernel_stein_discrepancy", "stein_kernel"]

# The discrete Stein kernel is not computed beyond this many sites. Its score 2 - 1/p(x_i |
# x_-i) is unbounded (a fit that makes one observed spin improbable, such as NCE with
# separable noise on 16 x 16, gave 8e32), its scale grows with the number of sites, and the
# exponential Hamming kernel exp(-H/d) is nearly constant between configurations of a large
# lattice, so the number stops saying how good a fit is. On 10 x 10 with n = 100 it still
# tells half the coupling from the truth by more than 5 null sds, but a coupling 20% off by
# only 3.5 (tests/evaluation/test_ksd.py): this is as far as it is shown.
MAX_DISCRETE_SITES = 100


def stein_kernel(model, params):
    """``(x, y) -> κ_p(x, y)`` for ONE pair of data (unchecked, jit/vmap-able)."""
    if isinstance(model.support, Reals):

        def score(x):
            return jax.grad(lambda v: model.log_f(params, v.reshape(x.shape)))(x.reshape(-1))

        def base(a, b):
            return (1.0 + jnp.sum((a - b) ** 2)) ** -0.5

        def kappa(x, y):
            a, b = x.reshape(-1), y.reshape(-1)
            sx, sy = score(x), score(y)
            gx, gy = jax.grad(base, 0)(a, b), jax.grad(base, 1)(a, b)
            trace = jnp.trace(jax.jacfwd(jax.grad(base, 0), 1)(a, b))
            return sx @ sy * base(a, b) + sx @ gy + sy @ gx + trace

        return kappa
    if not model.support.two_valued:
        raise MethodError(f"no Stein kernel for {model.support.name} data yet")

    def kappa(x, y):
        # score: 1 - f(¬_i x)/f(x) = 1 - (1 - c_i)/c_i = 2 - 1/c_i, c_i = p(x_i | x_-i)
        sx = 2.0 - jnp.exp(-model.log_conditionals(params, x).reshape(-1))
        sy = 2.0 - jnp.exp(-model.log_conditionals(params, y).reshape(-1))
        a, b = x.reshape(-1), y.reshape(-1)
        d = a.size
        differ = (a != b).astype(sx.dtype)
        hamming = jnp.sum(differ)
        k = jnp.exp(-hamming / d)
        k_flip = jnp.exp(-(hamming + 1.0 - 2.0 * differ) / d)  # one of the two flipped at i
        # Δ*_y k(x, y)_i = k - k(x, ¬_i y); Δ*_x likewise; both flipped at i: H unchanged.
        delta = k - k_flip
        trace = jnp.sum(k - 2.0 * k_flip + k)
        return sx @ sy * k - sx @ delta - delta @ sy + trace

    return kappa


@per_model
def _compiled(model):
    @jax.jit
    def ksd(params, data):
        kappa = stein_kernel(model, params)
        n = data.shape[0]
        rows = jax.vmap(lambda x: jax.vmap(lambda y: kappa(x, y))(data))(data)
        return (jnp.sum(rows) - jnp.sum(jnp.diagonal(rows))) / (n * (n - 1))

    return ksd


def kernel_stein_discrepancy(model, params, data):
    """The U-statistic estimate of KSD²(p_θ, data) (see the module docstring).

    Raises:
      MethodError: a support without a Stein kernel here.
    """
    if not (isinstance(model.support, Reals) or model.support.two_valued):
        raise MethodError(f"no Stein kernel for {model.support.name} data yet")
    data = model.validate(data)
    if data.shape[0] < 2:
        raise MethodError("the KSD's U-statistic needs at least two data")
    sites = math.prod(model.support.event_shape)
    if model.support.two_valued and sites > MAX_DISCRETE_SITES:
        raise MethodError(
            f"the discrete KSD is not shown beyond {MAX_DISCRETE_SITES} sites ({sites} here): "
            "its score is unbounded and its scale grows with the sites"
        )
    return float(_compiled(model)(model.check_params(params), data))
