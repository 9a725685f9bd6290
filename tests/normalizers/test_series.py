"""The Conway–Maxwell–Poisson log normaliser against a high-precision direct sum."""

import math

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.normalizers.series import cmp_log_normalizer, cmp_series

RATES = [0.1, 0.7, 4.0, 12.0, 50.0]
NUS = [0.2, 0.35, 0.75, 1.0, 1.7, 3.0]
BLOCK = 512


def _reference_log_z(rate: float, nu: float) -> float:
    """log Σ_j λ^j / (j!)^ν summed term by term from the mode outwards until the geometric
    bound on the rest is below e^-60 of the largest term, in blocks: each block's first log
    term in mpmath (30 digits), the next 511 from it by adding log λ - ν log(j+1), and the
    block's sum of exponentials with ``math.fsum``. Every term is summed (no stride), with no
    lgamma of JAX."""
    mp.mp.dps = 30
    mode = math.floor(rate ** (1 / nu))
    sd = math.sqrt((mode + 0.5) / nu)
    log_rate = mp.log(rate)

    def log_term(j):
        return j * log_rate - nu * mp.loggamma(j + 1)

    top = log_term(mode)

    def upper_ok(last):  # Σ_{j>last} t_j ≤ t_last r/(1-r), r = λ/(last+1)^ν
        r = rate / (last + 1) ** nu
        return r < 1 and float(log_term(last) - top) + math.log(r / (1 - r)) < -60

    def lower_ok(first):  # Σ_{j<first} t_j ≤ t_first q/(1-q), q = first^ν/λ
        q = first**nu / rate
        return first == 0 or (q < 1 and float(log_term(first) - top) + math.log(q / (1 - q)) < -60)

    width = 12 * sd + 60
    while not upper_ok(int(mode + width)) or not lower_ok(max(0, int(mode - width))):
        width *= 1.5
    first, last = max(0, int(mode - width)), int(mode + width)
    parts = []
    for a in range(first, last + 1, BLOCK):
        j = np.arange(a, min(a + BLOCK, last + 1), dtype=np.float64)
        increments = float(log_rate) - nu * np.log(j[1:])  # log t_{j} - log t_{j-1}
        offsets = np.concatenate([[0.0], np.cumsum(increments)])
        parts.append(math.fsum(np.exp(float(log_term(a) - top) + offsets)))
    return float(top) + math.log(math.fsum(parts))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("nu", NUS)
def test_log_z_matches_a_direct_high_precision_sum(rate, nu):
    """Within 1e-10 relative over λ in [0.1, 50], ν in [0.2, 3] (absolute where |log Z| < 1):
    this includes λ = 50, ν = 0.2, whose largest term is at j = 3e8 (the strided regime)."""
    series = jax.jit(cmp_series)(rate, nu)
    ref = _reference_log_z(rate, nu)
    assert abs(float(series.log_z) - ref) <= 1e-10 * max(1.0, abs(ref))
    assert float(series.log_bound) < -60  # the window leaves out less than e^-60 of Z


@pytest.mark.parametrize(("rate", "nu"), [(1.5, 0.05), (2.0, 0.1), (4.0, 0.2)])
def test_strided_windows_that_reach_zero_where_its_term_is_negligible(rate, nu):
    """Small ν: the strided window starts at j = 0, where t_0 = 1 is below e^-40 of Z."""
    series = cmp_series(rate, nu)
    assert int(series.first) == 0 and int(series.stride) > 1
    ref = _reference_log_z(rate, nu)
    assert abs(float(series.log_z) - ref) <= 1e-10 * max(1.0, abs(ref))


@pytest.mark.parametrize(
    ("rate", "nu", "why"),
    [
        (1.05, 0.01, "strided to j = 0, where t_0 is e^-6 of Z"),
        (1.3, 0.05, "strided to j = 0, where t_0 is e^-9 of Z"),
        (0.9999, 0.001, "terms fall by 1e-4 a step: 2,048 leave e^-14 of Z out"),
        (50.0, 0.1, "largest term beyond j = 2^50"),
    ],
)
def test_log_z_is_nan_where_the_window_cannot_sum_it(rate, nu, why):
    """Outside its domain the series says so (NaN) instead of returning a wrong value (at
    (1.05, 0.01) the strided sum is off by 1e-3, at (0.9999, 0.001) the truncated one by
    6e-7), and the model turns that into an error."""
    assert np.isnan(float(cmp_log_normalizer(rate, nu))), why
    model = bg.models.ConwayMaxwellPoisson()
    with pytest.raises(bg.ParameterError, match="cannot sum"):
        model.log_normalizer({"rate": rate, "nu": nu})


@pytest.mark.parametrize(("rate", "nu"), [(50.0, 0.55), (50.0, 0.75), (12.0, 1.0)])
def test_the_remainder_bound_bounds_the_terms_left_out(rate, nu):
    """Where the window holds consecutive terms, the reported bound is at least the mass of
    the terms outside it, and within a factor e^3 of it (not vacuous). At λ = 50, ν = 0.55
    the window starts at j = 194: terms are left out on both sides."""
    series = cmp_series(rate, nu)
    first, last = int(series.first), int(series.first) + 2047
    assert int(series.stride) == 1
    mp.mp.dps = 30

    def log_term(j):
        return j * mp.log(rate) - nu * mp.loggamma(j + 1)

    def log_sum(js):  # the terms until they fall below e^-60 of the first
        lead = log_term(js[0])
        terms = []
        for j in js:
            terms.append(mp.exp(log_term(j) - lead))
            if terms[-1] < mp.exp(-60):
                break
        return lead + mp.log(mp.fsum(terms))

    outside = [log_sum(range(last + 1, last + 10**6))]
    if first > 0:
        outside.append(log_sum(range(first - 1, -1, -1)))
    left_out = float(mp.log(mp.fsum(mp.exp(v) for v in outside)) - _reference_log_z(rate, nu))
    assert (first > 0) == ((rate, nu) == (50.0, 0.55))
    assert left_out <= float(series.log_bound) <= left_out + 3.0


@pytest.mark.parametrize(("rate", "nu"), [(0.1, 3.0), (4.0, 0.75), (12.0, 0.35), (50.0, 0.2)])
def test_gradient_is_the_mean_of_the_sufficient_statistics(rate, nu):
    """∂ log Z/∂ log λ = E[x] and ∂ log Z/∂ν = -E[log x!], the moments by direct sums in
    mpmath (stride 1 and the strided regime both)."""
    d_log_rate, d_nu = jax.grad(lambda a, b: cmp_log_normalizer(jnp.exp(a), b), (0, 1))(
        math.log(rate), nu
    )
    mp.mp.dps = 30
    mode = math.floor(rate ** (1 / nu))
    sd = math.sqrt((mode + 0.5) / nu)
    step = max(1, int(sd // 200))  # the moments to 1e-8 need far fewer digits than log Z
    js = range(max(0, int(mode - 12 * sd) - 20), int(mode + 12 * sd) + 60, step)
    top = mode * mp.log(rate) - nu * mp.loggamma(mode + 1)
    w = [mp.exp(j * mp.log(rate) - nu * mp.loggamma(j + 1) - top) for j in js]
    total = mp.fsum(w)
    mean_x = mp.fsum(wi * j for wi, j in zip(w, js, strict=True)) / total
    mean_lf = mp.fsum(wi * mp.loggamma(j + 1) for wi, j in zip(w, js, strict=True)) / total
    np.testing.assert_allclose(float(d_log_rate), float(mean_x), rtol=1e-8)
    np.testing.assert_allclose(float(d_nu), -float(mean_lf), rtol=1e-8)
