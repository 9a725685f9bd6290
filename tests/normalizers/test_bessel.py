"""log I_ν(κ) in JAX against mpmath (50 digits), value and derivative in κ."""

import jax
import mpmath
import numpy as np
import pytest

from bayesgen.normalizers.bessel import log_bessel_i, log_bessel_ratio

mpmath.mp.dps = 50
KAPPAS = np.logspace(-3, 4, 15)


def _reference(nu, kappa):
    return float(mpmath.log(mpmath.besseli(mpmath.mpf(nu), mpmath.mpf(kappa))))


@pytest.mark.parametrize("dim", [2, 3, 4, 5, 10, 51, 100, 101, 102, 500, 1000])
def test_von_mises_fisher_log_normaliser_within_1e_10_relative_of_mpmath(dim):
    """log C_d(κ) = ν log κ - (d/2) log 2π - log I_ν(κ), ν = d/2 - 1, over κ in [1e-3, 1e4]:
    both sides of the Debye cut-off (ν = 50) and the recurrence below it."""
    nu = dim / 2 - 1
    ours = np.asarray(jax.jit(lambda k: log_bessel_i(nu, k))(KAPPAS))
    for kappa, value in zip(KAPPAS, ours, strict=True):
        ref = _reference(nu, kappa)
        log_c = nu * np.log(kappa) - dim / 2 * np.log(2 * np.pi) - ref
        assert abs(value - ref) <= 1e-10 * abs(log_c), (dim, kappa, value, ref)


@pytest.mark.parametrize("nu", [0.0, 0.5, 7.0, 49.5, 60.0])
def test_derivative_in_kappa_is_the_bessel_ratio(nu):
    """d/dκ log I_ν(κ) = I_{ν+1}(κ)/I_ν(κ) + ν/κ (DLMF 10.29.2), by autodiff, against mpmath.
    To 1e-8 relative: at ν = 0, κ = 1e-3 the derivative (5e-4) is the difference of terms of
    order 50/κ from the recurrence, so its absolute error (3e-13) is 5e-10 of it."""
    grad = jax.jit(jax.vmap(jax.grad(lambda k: log_bessel_i(nu, k))))(KAPPAS)
    ratio = np.exp(np.asarray(log_bessel_ratio(nu, KAPPAS)))
    for kappa, g, r in zip(KAPPAS, np.asarray(grad), ratio, strict=True):
        ref = float(
            mpmath.besseli(nu + 1, kappa) / mpmath.besseli(nu, kappa) + mpmath.mpf(nu) / kappa
        )
        assert abs(g - ref) <= 1e-8 * abs(ref), (nu, kappa, g, ref)
        assert abs(r + nu / kappa - ref) <= 1e-10 * abs(ref)


def test_negative_order_is_refused():
    with pytest.raises(ValueError, match="order"):
        log_bessel_i(-0.5, 1.0)
