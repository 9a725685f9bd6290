"""Exact Ising log Z: enumeration, transfer matrix and Kaufman's closed form agree, and
the gradient and Hessian are the exact mean and covariance of the sufficient statistics
(computed by brute force in NumPy, a different way)."""

import itertools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy.special import logsumexp

import bayesgen as bg
from bayesgen.normalizers import ising_torus_log_z_kaufman, ising_transfer_matrix_log_z

PARAMS = [(0.3, 0.05), (-0.7, 0.4), (1.2, -0.3), (0.0, 0.0), (4.0, 2.0)]
BOTH_APPLY = [(2, 2), (2, 3), (3, 2), (3, 3), (2, 7), (3, 4), (4, 4), (4, 5), (5, 5), (3, 8)]


def brute_force_stats(shape):
    """All configurations' sufficient statistics, by itertools (independent of the package)."""
    s = np.array(list(itertools.product([-1.0, 1.0], repeat=shape[0] * shape[1])))
    s = s.reshape(-1, *shape)
    bonds = np.sum(s * (np.roll(s, -1, axis=1) + np.roll(s, -1, axis=2)), axis=(1, 2))
    return np.stack([bonds, s.sum(axis=(1, 2))], axis=1)


# 24 and 25 spins: 2^24 and 2^25 configurations brute-forced (11-23 s each, cold)
@pytest.mark.parametrize(
    "shape",
    [pytest.param(s, marks=pytest.mark.slow) if s[0] * s[1] >= 24 else s for s in BOTH_APPLY],
)
def test_enumeration_equals_transfer_matrix(shape):
    enum = jax.jit(bg.models.Ising(shape, normalizer="enumeration").log_normalizer)
    tm = jax.jit(bg.models.Ising(shape, normalizer="transfer_matrix").log_normalizer)
    for beta, h in PARAMS:
        p = {"beta": beta, "h": h}
        np.testing.assert_allclose(enum(p), tm(p), rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (3, 4), (4, 4)])
def test_log_z_gradient_and_hessian_are_exact_moments(shape):
    t = brute_force_stats(shape)
    compiled = []
    for strategy in ("enumeration", "transfer_matrix"):
        model = bg.models.Ising(shape, normalizer=strategy)
        f = model.log_normalizer
        compiled.append((model, jax.jit(f), jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))))
    for beta, h in PARAMS[:3]:
        logw = t @ np.array([beta, h])
        log_z = logsumexp(logw)
        w = np.exp(logw - log_z)
        mean = w @ t
        cov = (t - mean).T @ ((t - mean) * w[:, None])
        for model, log_z_fn, grad_fn, hess_fn in compiled:
            p = {"beta": jnp.asarray(beta), "h": jnp.asarray(h)}
            np.testing.assert_allclose(log_z_fn(p), log_z, rtol=0, atol=1e-10)
            grad = grad_fn(p)
            np.testing.assert_allclose([grad["beta"], grad["h"]], mean, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(model.expected_statistics(p), mean, rtol=1e-10, atol=1e-10)
            hess = hess_fn(p)
            hess = np.array(
                [[hess["beta"]["beta"], hess["beta"]["h"]], [hess["h"]["beta"], hess["h"]["h"]]]
            )
            np.testing.assert_allclose(hess, cov, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (4, 4), (5, 5), (4, 6), (3, 5)])
@pytest.mark.parametrize("beta", [0.1, 0.3, 0.4406867935, 0.7, 1.5])
def test_enumeration_matches_kaufman_at_zero_field(shape, beta):
    model = bg.models.Ising(shape, normalizer="enumeration")
    exact = ising_torus_log_z_kaufman(beta, shape)
    np.testing.assert_allclose(
        model.log_normalizer({"beta": beta, "h": 0.0}), exact, rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("shape", [(10, 10), (7, 11), (10, 30), (6, 64)])
@pytest.mark.parametrize("beta", [0.1, 0.4406867935, 0.9])
def test_transfer_matrix_matches_kaufman_beyond_enumeration(shape, beta):
    model = bg.models.Ising(shape)
    assert model.normalizer == "exact: transfer matrix"
    exact = ising_torus_log_z_kaufman(beta, shape)
    np.testing.assert_allclose(
        model.log_normalizer({"beta": beta, "h": 0.0}), exact, rtol=0, atol=1e-10
    )


def test_transfer_matrix_gradient_matches_kaufman_derivative():
    # d log Z / d beta at h = 0 is the mean bond sum; differentiate the closed form instead.
    shape, beta = (10, 10), 0.35
    grad = jax.grad(lambda b: ising_transfer_matrix_log_z(b, 0.0, shape))(beta)
    expected = jax.grad(lambda b: ising_torus_log_z_kaufman(b, shape))(beta)
    np.testing.assert_allclose(grad, expected, rtol=1e-10)


@pytest.mark.parametrize("shape", [(5, 6), (6, 7), (8, 9), (9, 10)])
def test_momentum_sectors_equal_the_products_of_positive_matrices(shape):
    """log Z, its gradient and its Hessian from the sectors' spectra (with a field, on odd
    and even widths, β >= 0 or R even, where nothing cancels) equal those of the dense
    repeated squaring, forward-differentiated: a different computation of the same trace."""
    from bayesgen.normalizers.transfer_matrix import _momentum_sectors, _positive_products

    rows, width = max(shape), min(shape)
    fns = [_momentum_sectors(rows, width), _positive_products(rows, width)]
    value, grad, hess = zip(
        *[(jax.jit(f), jax.jit(jax.grad(f)), jax.jit(jax.hessian(f))) for f in fns], strict=True
    )
    params = [(0.44, 0.1), (2.0, -0.5), (0.05, 1.5)] + ([(-0.9, 0.3)] if rows % 2 == 0 else [])
    for theta in map(jnp.array, params):
        np.testing.assert_allclose(value[0](theta), value[1](theta), rtol=0, atol=1e-10)
        np.testing.assert_allclose(grad[0](theta), grad[1](theta), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(hess[0](theta), hess[1](theta), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("rows", [2400, 2401])
def test_momentum_sectors_hold_on_very_long_lattices(rows):
    """R in the thousands: λ^R and the Hessian's divided differences of R x^(R-1) neither
    overflow nor cancel (both once gave NaN from 6 x 2,160 on)."""
    from bayesgen.normalizers.transfer_matrix import _momentum_sectors, _positive_products

    theta = jnp.array([0.44, 0.1])
    for order in (lambda f: f, jax.grad, jax.hessian):
        got, want = (
            jax.jit(order(f(rows, 6)))(theta) for f in (_momentum_sectors, _positive_products)
        )
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_vmapped_signs_of_beta_on_odd_rows_give_each_ones_answer():
    """Under vmap the sign test is batched and both ways run for every member: each member
    still gets its own way's value and gradient, finite."""
    shape, betas = (5, 7), jnp.array([-5.0, -0.5, 0.0, 0.3, 2.0])
    f = lambda b: ising_transfer_matrix_log_z(b, 0.1, shape)  # noqa: E731
    batched = jax.jit(jax.vmap(jax.value_and_grad(f)))(betas)
    one_by_one = [jax.jit(jax.value_and_grad(f))(b) for b in betas]
    for got, want in zip(zip(*batched, strict=True), one_by_one, strict=True):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_frustrated_antiferromagnet_is_computed_without_cancellation():
    """β < 0 on an odd number of rows: the sectors' λ^R cancel (they lose digits here), so
    log Z comes from the positive products, equal to a 40-digit reference (mpmath)."""
    shape, beta, h = (6, 7), -0.9, 0.3
    mpmath.mp.dps = 40
    states = np.array(list(itertools.product([-1, 1], repeat=6)))
    e_row = beta * np.sum(states * np.roll(states, -1, axis=1), axis=1) + h * states.sum(1)
    log_t = 0.5 * (e_row[:, None] + e_row[None, :]) + beta * (states @ states.T)
    t = mpmath.matrix([[mpmath.exp(mpmath.mpf(float(x))) for x in row] for row in log_t])
    power = t**7
    exact = float(mpmath.log(sum(power[i, i] for i in range(64))))
    value = ising_transfer_matrix_log_z(beta, h, shape)
    np.testing.assert_allclose(value, exact, rtol=0, atol=1e-12)


def test_widest_transfer_matrix_matches_kaufman():
    shape = (12, 12)
    log_z = jax.jit(bg.models.Ising(shape).log_normalizer)
    for beta in (0.2, 0.6):
        exact = ising_torus_log_z_kaufman(beta, shape)
        np.testing.assert_allclose(log_z({"beta": beta, "h": 0.0}), exact, rtol=0, atol=1e-10)


def test_large_couplings_do_not_overflow():
    model = bg.models.Ising((8, 8))
    p = {"beta": 50.0, "h": -20.0}
    # Ground state all -1: 2 * 64 bonds at +1 and field energy 20 * 64; degeneracy 1.
    np.testing.assert_allclose(model.log_normalizer(p), 50.0 * 128 + 20.0 * 64, rtol=1e-12)


def test_automatic_choice_is_visible():
    assert bg.models.Ising((2, 2)).normalizer == "exact: enumeration"
    assert bg.models.Ising((4, 5)).normalizer == "exact: enumeration"  # density of states
    assert bg.models.Ising((5, 5)).normalizer == "exact: transfer matrix"
    assert bg.models.Ising((10, 300)).normalizer == "exact: transfer matrix"
    big = bg.models.Ising((16, 16))
    assert big.normalizer is None and not big.has_exact_normalizer
    with pytest.raises(bg.IntractableNormalizerError, match="pseudo_likelihood"):
        big.log_normalizer({"beta": 0.3, "h": 0.0})
    with pytest.raises(bg.MethodError, match="transfer_matrix"):
        bg.models.Ising((6, 6), normalizer="enumeration")
    with pytest.raises(bg.MethodError, match="narrower side"):
        bg.models.Ising((16, 16), normalizer="transfer_matrix")


@pytest.mark.parametrize("strategy", ["enumeration", "transfer_matrix"])
def test_jit_does_not_retrace_for_new_parameter_values(strategy):
    model = bg.models.Ising((4, 4), normalizer=strategy)
    traces = []
    inner = model.log_z
    model.log_z = lambda p: traces.append(1) or inner(p)
    log_z = jax.jit(model.log_normalizer)
    values = [log_z({"beta": b, "h": h}) for b, h in [(0.1, 0.0), (0.3, 0.05), (-0.5, 1.0)]]
    grad = jax.jit(jax.grad(model.log_normalizer))
    grad({"beta": 0.1, "h": 0.0})
    grad({"beta": 0.2, "h": 0.3})
    assert len(traces) == 2  # once for log Z, once for its gradient
    assert log_z._cache_size() == 1 and grad._cache_size() == 1
    assert len(set(np.asarray(values).tolist())) == 3


def test_enumeration_chunks_do_not_change_the_answer():
    from bayesgen.normalizers import enumerate_log_normalizer

    shape = (3, 4)
    model = bg.models.Ising(shape)
    theta = jnp.array([0.4, -0.2])
    values = [
        enumerate_log_normalizer(model._flat_log_f, theta, 12, chunk_size=c)
        for c in (16, 256, 4096)
    ]
    np.testing.assert_allclose(values, values[0], rtol=0, atol=1e-12)
