"""The low-dimensional EBMs: quadrature log Z against scipy's adaptive quadrature, its
error estimate against a finer grid, the grid sampler's moments, and the estimators of
both kinds on the quartic exponential family."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import bayesgen as bg
from bayesgen.models.ebm2d import toy_data

KEY = jax.random.key(0)


def test_quartic_1d_log_z_matches_scipy_quad():
    model = bg.models.EBM2D("quartic", dim=1)
    params = model.default_truth
    a, (t1, t2) = float(params["a"]), np.asarray(params["theta"])
    value, err = integrate.quad(
        lambda x: math.exp(-a * x**4 + t1 * x + t2 * x * x), -np.inf, np.inf, epsrel=1e-13
    )
    assert err < 1e-9 * value  # scipy's own (conservative) error estimate
    log_z, estimate = model.quadrature(params)
    np.testing.assert_allclose(float(log_z), math.log(value), rtol=1e-11)
    assert float(estimate) < 1e-10


def test_quartic_2d_log_z_matches_scipy_dblquad():
    model = bg.models.EBM2D("quartic", dim=2)
    params = model.default_truth
    a, t = float(params["a"]), np.asarray(params["theta"])

    def f(y, x):
        return math.exp(-a * (x**4 + y**4) + t @ np.array([x, y, x * x, x * y, y * y]))

    value, err = integrate.dblquad(f, -6, 6, -6, 6, epsabs=0, epsrel=1e-11)
    assert err < 1e-9 * value
    log_z, estimate = model.quadrature(params)
    np.testing.assert_allclose(float(log_z), math.log(value), rtol=1e-9)
    assert float(estimate) < 1e-9


def test_mlp_error_estimate_bounds_the_error_of_a_coarse_grid():
    """On a 64-cell grid the estimate (change from the 32-cell grid, plus the bound on the
    mass outside the box) is at least the actual error against a 1,024-cell grid, which
    itself agrees with scipy's adaptive quadrature."""
    coarse, fine = bg.models.EBM2D(grid=64), bg.models.EBM2D(grid=1024)
    params = coarse.default_truth
    log_z, estimate = coarse.quadrature(params)
    log_z_fine, estimate_fine = fine.quadrature(params)
    assert abs(float(log_z) - float(log_z_fine)) <= float(estimate)
    assert float(estimate_fine) < 1e-6  # mostly the rigorous bound on the mass outside
    w1, b1, w2, b2, w3 = (np.asarray(params[k]) for k in ("w1", "b1", "w2", "b2", "w3"))

    def f(y, x):
        h = np.tanh(np.tanh(np.array([x, y]) @ w1 + b1) @ w2 + b2)
        return math.exp(w3 @ h - 0.5 * (x * x + y * y) / 4.0)

    value, err = integrate.dblquad(f, -12, 12, -12, 12, epsabs=0, epsrel=1e-9)
    assert err < 1e-7 * value
    np.testing.assert_allclose(float(log_z_fine), math.log(value), rtol=1e-7)


def test_grid_sampler_has_the_models_moments():
    """Mean and second moments of 20,000 draws within 4 SE of the quadrature moments."""
    model = bg.models.EBM2D()
    params = model.check_params(model.default_truth)
    x = np.asarray(model.sample(jax.random.key(0), params, 20_000))
    nodes, h = model._nodes(jnp.float64)
    log_f = jax.vmap(model._log_unnormalized, (None, 0))(params, nodes)
    w = np.asarray(jax.nn.softmax(log_f))
    nodes = np.asarray(nodes)
    stats = np.concatenate([x, x**2], 1)
    expected = np.concatenate([w @ nodes, w @ nodes**2 + h * h / 12])  # + uniform jitter
    se = stats.std(0) / math.sqrt(len(x))
    assert np.all(np.abs(stats.mean(0) - expected) < 4 * se)


@pytest.fixture(scope="module")
def double_well():
    model = bg.models.EBM2D("quartic", dim=1)
    return model, model.sample(jax.random.key(3), model.default_truth, 2000)


@pytest.mark.parametrize("method", ["exact_mle", "score_matching", "nce"])
def test_quartic_estimators_recover_the_truth(double_well, method):
    """A double well, -x⁴ + 0.3 x + 2 x²: each consistent estimator within 3.5 of its
    sandwich SEs of the truth (the family is exponential, so score matching is consistent
    and exact MLE matches moments)."""
    model, data = double_well
    fit = bg.fit(model, data, method, key=jax.random.key(4))
    assert fit.converged
    truth = model.default_truth
    for name in ("a", "theta"):
        z = (np.asarray(fit.params[name]) - np.asarray(truth[name])) / np.asarray(fit.stderr[name])
        assert np.all(np.abs(z) < 3.5), (method, name, z)


def test_toy_data_shapes_and_errors():
    for name in ("two_moons", "rings", "gaussian_mixture"):
        x = toy_data(name, jax.random.key(0), 500)
        assert x.shape == (500, 2) and bool(jnp.all(jnp.isfinite(x)))
    with pytest.raises(bg.ParameterError, match="unknown toy data"):
        toy_data("spirals", jax.random.key(0), 10)
    with pytest.raises(bg.ParameterError, match="MLP dim 2"):
        bg.models.EBM2D("mlp", dim=1)


def test_score_matching_of_a_network_energy_needs_its_curvature_penalty():
    """On two moons the plain score-matching objective of the tanh network is unbounded
    below: L-BFGS drives it past -1e6 within 300 steps (weights grow without limit, the
    density spikes at the data). Kingma & LeCun's penalty λ Σ (∂²_i log f)² bounds it; with
    λ = 0 the loss and its gradient are the plain ones."""
    model = bg.models.EBM2D(hidden=16)
    data = toy_data("two_moons", jax.random.key(0), 2000)
    plain = bg.fit(model, data, "score_matching", num_steps=300, uncertainty="none")
    assert np.nanmin(plain.loss_trace) < -1e6
    method = bg.frequentist.ScoreMatching(curvature_penalty=0.1)
    penalised = bg.fit(model, data, method, num_steps=300, uncertainty="none")
    assert np.all(np.isfinite(penalised.loss_trace)) and penalised.loss_trace[-1] > -100
    params = model.check_params(model.initial_params())
    np.testing.assert_allclose(
        bg.frequentist.ScoreMatching(curvature_penalty=0.0).loss(model, params, data, KEY),
        bg.frequentist.ScoreMatching().loss(model, params, data, KEY),
    )
    with pytest.raises(bg.MethodError, match="R\\^d only"):
        bg.fit(bg.models.VonMisesFisher(3), np.eye(3), method)


def test_compare_plots_the_fitted_densities_normalised(double_well):
    """The density panels are p = f/Z: each integrates to 1 over the plotted range (which
    reaches 0.5 beyond the data), within 1e-3."""
    model, data = double_well
    cmp = bg.compare(model, data, methods=["exact_mle", "score_matching"], key=KEY)
    fig = cmp.plot_densities(model, data)
    assert [ax.get_title() for ax in fig.axes] == ["exact_mle", "score_matching", "data"]
    for ax in fig.axes[:2]:
        x, p = ax.lines[0].get_data()
        np.testing.assert_allclose(np.trapezoid(p, x), 1.0, atol=1e-3)
    with pytest.raises(bg.MethodError, match="R or R\\^2"):
        bg.compare(
            bg.models.Ising((2, 2)), np.ones((10, 2, 2)), methods=["exact_mle"], key=KEY
        ).plot_densities(bg.models.Ising((2, 2)))
