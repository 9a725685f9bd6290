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
from bayesgen.evaluation import resolve
from bayesgen.models.ebm2d import TOY_NOISE, toy_data, two_moons_component

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


def test_region_masses_match_scipy_on_a_half_plane():
    """P(x₁ > 0) of the 2-D double well from the grid (nodes on x₁ = 0 counted half, as the
    trapezoid rule weighs them) against scipy's dblquad, within twice the Euler–Maclaurin
    error of the cut at x₁ = 0, h²/12 ∫ ∂₁f(0, y) dy / Z (the rule is only second order
    where the region ends inside the density)."""
    model = bg.models.EBM2D("quartic", dim=2)
    params = model.default_truth
    a, t = float(params["a"]), np.asarray(params["theta"])

    def f(y, x):
        return math.exp(-a * (x**4 + y**4) + t @ np.array([x, y, x * x, x * y, y * y]))

    half, _ = integrate.dblquad(f, 0, 6, -6, 6, epsabs=0, epsrel=1e-11)
    whole, _ = integrate.dblquad(f, -6, 6, -6, 6, epsabs=0, epsrel=1e-11)
    slope, _ = integrate.quad(lambda y: f(y, 0.0) * (t[0] + t[3] * y), -6, 6, epsrel=1e-11)
    h = 2 * model.box / model.grid
    masses = model.region_masses(params, lambda x: jnp.sign(x[:, 0]).astype(int) + 1, 3)
    np.testing.assert_allclose(float(jnp.sum(masses)), 1.0, rtol=1e-12)
    error = abs(float(masses[2] + masses[1] / 2) - half / whole)
    assert error <= 2 * h * h / 12 * abs(slope) / whole, error


def test_grid_sampler_has_the_models_moments():
    """Mean and second moments of 20,000 draws within 4 SE of the quadrature moments."""
    model = bg.models.EBM2D()
    params = model.check_params(model.default_truth)
    x = np.asarray(model.sample(jax.random.key(0), params, 20_000))
    nodes, h = model._nodes(jnp.float64)
    log_f = jax.vmap(model.log_f, (None, 0))(params, nodes)
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


@pytest.mark.slow
def test_score_matching_of_a_network_energy_needs_its_curvature_penalty():
    """On two moons the plain score-matching objective of the tanh network is unbounded
    below: L-BFGS drives it past -1e6 within 300 steps (weights grow without limit, the
    density spikes at the data). Kingma & LeCun's penalty λ Σ (∂²_i log f)² bounds it (the
    penalised fit is the one the next test holds to exact MLE); with λ = 0 the loss and its
    gradient are the plain ones."""
    model = bg.models.EBM2D(hidden=16)
    data = toy_data("two_moons", jax.random.key(0), 2000)
    plain = bg.fit(model, data, "score_matching", num_steps=300, uncertainty="none")
    assert np.nanmin(plain.loss_trace) < -1e6
    method = bg.frequentist.ScoreMatching(curvature_penalty=0.1)
    params = model.check_params(model.initial_params())
    np.testing.assert_allclose(
        bg.frequentist.ScoreMatching(curvature_penalty=0.0).loss(model, params, data, KEY),
        bg.frequentist.ScoreMatching().loss(model, params, data, KEY),
    )
    with pytest.raises(bg.MethodError, match="R\\^d only"):
        bg.fit(bg.models.VonMisesFisher(3), np.eye(3), method)
    for variant in ("DenoisingScoreMatching", "SlicedScoreMatching"):
        with pytest.raises(bg.MethodError, match="takes no curvature_penalty"):
            bg.fit(model, data, getattr(bg.frequentist, variant)(curvature_penalty=0.1))


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


def test_two_moons_component_is_the_nearer_moon():
    """Against a brute-force distance to 4,000 points on each half circle; on noiseless
    draws it is the moon each point was drawn on."""
    from bayesgen.models.ebm2d import _two_moons

    t = np.linspace(0, math.pi, 4000)
    upper = 1.6 * np.stack([np.cos(t) - 0.5, np.sin(t) - 0.25], 1)
    lower = 1.6 * np.stack([0.5 - np.cos(t), 0.25 - np.sin(t)], 1)
    x = np.random.default_rng(0).uniform(-4, 4, (3000, 2))

    def distance(arc):
        return np.min(np.linalg.norm(x[:, None] - arc[None], axis=2), 1)

    brute = (distance(lower) < distance(upper)).astype(int)
    np.testing.assert_array_equal(np.asarray(two_moons_component(x)), brute)
    drawn = _two_moons(jax.random.key(5), 2000, 0.0)
    k_side = jax.random.split(jax.random.key(5), 3)[0]
    on_upper = np.asarray(jax.random.bernoulli(k_side, 0.5, (2000,)))
    np.testing.assert_array_equal(np.asarray(two_moons_component(drawn)), ~on_upper)


MARGIN = 0.1  # nats per held-out point


@pytest.mark.slow
def test_network_energy_on_two_moons_each_method_within_margin_of_exact_mle():
    """The network (16 hidden units) on two moons, n = 2,000, 5,000 held-out points, log Z
    by quadrature: each of its default methods (configured in ``EBM2D.default_methods``)
    within MARGIN = 0.1 nats per held-out point of the exact-MLE fit, on what it estimates:

    * NCE and CD: the held-out log-likelihood itself (over four data sets the gaps were
      within 0.04);
    * denoising score matching fits the data smoothed by N(0, σ²I): its gap, less the
      smoothing's cost in closed form (the KL from a moon's N(0, s²) cross-section, s = 0.1,
      to N(0, s² + σ²): 0.12 nats here), is within MARGIN (gaps 0.086–0.125 over four sets);
    * score matching sees each moon's shape but barely their relative weight (Stein
      scores are blind to how mass splits between regions that low density separates): the
      held-out log-likelihood given the moon (log p(x) − log P(moon of x), P from the
      quadrature grid) is within MARGIN (0.012–0.067 over four sets), the overall one within
      0.5 (its worst, 0.40, at a 0.86/0.14 split, whose Bernoulli KL is 0.37).

    And no method's training log-likelihood is above exact MLE's by more than MARGIN / 10.
    At every fit the quadrature log Z is within MARGIN / 10 of a grid twice as fine, so the
    grid's error is a tenth of the margin the comparisons allow: exact MLE can exploit a
    coarse grid (on 193² nodes it found weights whose log Z there is 72 and on a grid twice
    as fine 463: spikes between the nodes). Measured: 1.6e-3 on one CPU thread, under 1e-3
    on two (the fit's rounding differs)."""
    model = bg.models.EBM2D(hidden=16)
    fine = bg.models.EBM2D(hidden=16, grid=512)
    train = toy_data("two_moons", jax.random.key(0), 2000)
    test = toy_data("two_moons", jax.random.key(1), 5000)
    cmp = bg.compare(model, train, heldout=test, key=KEY, uncertainty="none")
    assert list(cmp.table["method"]) == [
        "exact_mle",
        "nce",
        "contrastive_divergence",
        "denoising_score_matching",
        "score_matching",
    ]
    moon_test = np.asarray(two_moons_component(test))
    heldout, given_moon, train_ll = {}, {}, {}
    for name, fit in cmp.results.items():
        params = model.check_params(fit.params)
        log_z = model.log_normalizer(params)
        assert abs(float(log_z - fine.log_normalizer(params))) < MARGIN / 10, name
        heldout[name] = np.asarray(model.log_f_batch(params, test) - log_z)
        train_ll[name] = float(jnp.mean(model.log_f_batch(params, train)) - log_z)
        moon_mass = np.asarray(model.region_masses(params, two_moons_component, 2))
        given_moon[name] = heldout[name] - np.log(moon_mass[moon_test])
        row = cmp.table.set_index("method").loc[name]
        np.testing.assert_allclose(row["heldout loglik"], heldout[name].mean(), rtol=1e-12)

    def gap(values, name):
        return float(np.mean(values[name] - values["exact_mle"]))

    report = {n: (round(gap(heldout, n), 4), round(gap(given_moon, n), 4)) for n in heldout}
    for name in ("nce", "contrastive_divergence"):
        assert abs(gap(heldout, name)) <= MARGIN, report
    configured = [resolve(m)[1] for m in model.default_methods]
    (dsm,) = [m for m in configured if m.name == "denoising_score_matching"]
    sigma = float(dsm.init_state(model, None, train, KEY))  # the noise scale it fitted with
    ratio = sigma**2 / (TOY_NOISE**2 + sigma**2)
    smoothing = 0.5 * (-math.log1p(-ratio) - ratio)  # KL(N(0, s²) || N(0, s² + σ²))
    assert abs(gap(heldout, "denoising_score_matching") + smoothing) <= MARGIN, (smoothing, report)
    assert abs(gap(given_moon, "score_matching")) <= MARGIN, report
    assert gap(heldout, "score_matching") >= -0.5, report
    # the reference is (nearly) the maximum: at 1,000 L-BFGS steps its gradient norm is
    # still 0.02, and NCE's training log-likelihood was 0.0005 above it
    assert max(train_ll.values()) - train_ll["exact_mle"] <= MARGIN / 10, train_ll
