"""The Conway–Maxwell–Poisson model against Poisson's closed form, exact probabilities, a
scipy fit of a direct-sum likelihood and a quadrature posterior."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, special, stats

import bayesgen as bg
from bayesgen import losses
from bayesgen.models.conway_maxwell_poisson import _envelope, acceptance_rate

MODEL = bg.models.ConwayMaxwellPoisson()
TRUTH = {"rate": 4.0, "nu": 0.75}  # the setting of Matsubara et al. (2023)
N = 2000


@pytest.fixture(scope="module")
def data():
    return MODEL.sample(jax.random.key(7), TRUTH, N)


def _numpy_log_z(rate, nu, terms=400):
    """A direct sum with scipy's gammaln, for parameters whose mass lies below 400."""
    j = np.arange(terms)
    return special.logsumexp(j * np.log(rate) - nu * special.gammaln(j + 1))


def test_nu_one_is_poisson():
    x = np.arange(0, 40.0)
    for rate in (0.3, 4.0, 25.0):
        params = {"rate": rate, "nu": 1.0}
        ours = jax.vmap(lambda v, p=params: MODEL.log_prob(p, v))(jnp.asarray(x))
        np.testing.assert_allclose(ours, stats.poisson(rate).logpmf(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("rate", "nu"), [(4.0, 0.75), (2.0, 1.7), (0.1, 0.2), (12.0, 0.35), (0.7, 3.0), (50.0, 0.2)]
)
def test_exact_sampler_has_the_exact_law(rate, nu):
    """A chi-square test of 20,000 draws against the exact probabilities (bins with fewer
    than 5 expected pooled), and the mean of (x, log x!) within 4 SE of the model's
    expected statistics; at λ = 50, ν = 0.2 (mode 3e8) only the latter."""
    params = {"rate": rate, "nu": nu}
    x = np.asarray(MODEL.sample(jax.random.key(3), params, 20_000))
    assert np.all(x >= 0) and np.all(x == np.floor(x))
    stats_x = np.stack([x, special.gammaln(x + 1)], 1)
    se = stats_x.std(0, ddof=1) / math.sqrt(len(x))
    expected = np.asarray(MODEL.expected_statistics(params))
    assert np.all(np.abs(stats_x.mean(0) - expected) < 4 * se)
    if rate ** (1 / nu) > 1e4:
        return
    log_z = float(MODEL.log_normalizer(params))
    k = np.arange(int(x.max()) + 1)
    expected_counts = len(x) * np.exp(k * np.log(rate) - nu * special.gammaln(k + 1) - log_z)
    observed = np.bincount(x.astype(int), minlength=len(k))
    keep = expected_counts >= 5
    obs = np.append(observed[keep], len(x) - observed[keep].sum())
    exp = np.append(expected_counts[keep], len(x) - expected_counts[keep].sum())
    assert stats.chisquare(obs, exp).pvalue > 1e-3


def test_the_sampler_accepts_often_over_the_whole_range():
    """Over λ in [0.1, 50], ν in [0.2, 3] more than 0.6 of the proposals are accepted (the
    rate is Z over the envelope's mass, Z from the series; above 1 would mean an envelope
    below the target), so MAX_ROUNDS pools of 1.3 n proposals never run out."""
    rates = np.array([0.1, 0.3, 0.7, 2.0, 4.0, 12.0, 50.0])
    nus = np.array([0.2, 0.35, 0.5, 0.75, 1.0, 1.7, 3.0])
    grid = jax.vmap(jax.vmap(acceptance_rate, (None, 0)), (0, None))(rates, nus)
    assert 0.6 < float(grid.min()) and float(grid.max()) <= 1.0
    assert float(jnp.median(grid)) > 0.75


@pytest.mark.parametrize("rate", [1e-4, 0.9, 1.0, 4.0, 50.0, 1e3])
@pytest.mark.parametrize("nu", [0.05, 0.2, 1.0, 10.0])
def test_the_envelope_lies_above_the_terms(rate, nu):
    """log t_j ≤ the envelope at every j from lo - 2,000 to hi + 2,000 (flat over [lo, hi],
    tangent lines beyond; further out the terms' concavity keeps them below the lines), the
    condition for exact rejection sampling; where the largest term is beyond j = 1e11,
    where float64 cannot resolve the terms' ratios, the draws are NaN instead."""
    if math.log(rate) / nu > math.log(1e11):
        draws = MODEL.sample(jax.random.key(0), {"rate": rate, "nu": nu}, 3)
        assert np.isnan(np.asarray(draws)).all()
        return
    lo, hi, top, log_rho_lo, log_rho_hi, _, log_t = _envelope(jnp.asarray(rate), jnp.asarray(nu))
    lo, hi = float(lo), float(hi)
    j = jnp.arange(max(0.0, lo - 2000.0), hi + 2000.0)
    envelope = jnp.where(
        j < lo,
        log_t(lo) + (lo - j) * log_rho_lo,
        jnp.where(j > hi, log_t(hi) + (j - hi) * log_rho_hi, top),
    )
    # float64 rounding of log t_j = j log λ - ν log j!: a few ulps of its two parts
    rounding = (
        8 * np.finfo(float).eps * (jnp.abs(j * jnp.log(rate)) + nu * jax.lax.lgamma(j + 1.0) + 1.0)
    )
    assert bool(jnp.all(log_t(j) <= envelope + rounding))


def test_counts_are_validated():
    with pytest.raises(bg.DataError, match=r"datum 1: value -1\.0 is negative"):
        MODEL.validate(np.array([0, -1, 2]))
    with pytest.raises(bg.DataError, match=r"datum 2: value 2\.5 is not an integer"):
        MODEL.validate(np.array([0, 1, 2.5]))
    with pytest.raises(bg.DataError, match="non-finite"):
        MODEL.validate(np.array([0, np.nan]))
    with pytest.raises(bg.DataError, match=r"shape \(n,\)"):
        MODEL.validate(np.ones((3, 2)))
    with pytest.raises(bg.ParameterError, match="outside its domain"):
        MODEL.log_normalizer({"rate": 4.0, "nu": -1.0})


def test_exact_mle_agrees_with_scipy_on_a_direct_sum(data):
    fit = bg.fit(MODEL, data, "exact_mle")
    x = np.asarray(data)
    t = np.array([x.sum(), special.gammaln(x + 1).sum()])

    def nll(u):
        rate, nu = np.exp(u)
        return -(t[0] * np.log(rate) - nu * t[1] - len(x) * _numpy_log_z(rate, nu))

    ref = optimize.minimize(
        nll,
        np.log([4.0, 0.75]),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
    )
    assert fit.converged
    np.testing.assert_allclose([fit.params["rate"], fit.params["nu"]], np.exp(ref.x), rtol=1e-6)


def test_discrete_fisher_is_consistent_and_z_free(data):
    """The loss's population minimiser is the truth: its expectation under CMP(θ₀), by a
    direct sum, is smallest at θ₀ (gradient 0, Hessian positive definite); and the fit on
    n = 2,000 draws is within 3.5 sandwich SEs of the truth."""
    k = jnp.arange(400.0)
    log_p = k * math.log(TRUTH["rate"]) - TRUTH["nu"] * jax.lax.lgamma(k + 1.0)
    p = jnp.exp(log_p - jax.nn.logsumexp(log_p))

    def expected_loss(u):
        params = {"rate": jnp.exp(u[0]), "nu": jnp.exp(u[1])}
        per = jax.vmap(lambda v: losses.discrete_fisher_divergence(MODEL, params, v))(k)
        return jnp.sum(p * per)

    u0 = jnp.log(jnp.array([TRUTH["rate"], TRUTH["nu"]]))
    np.testing.assert_allclose(jax.grad(expected_loss)(u0), 0.0, atol=1e-10)
    assert np.all(np.linalg.eigvalsh(jax.hessian(expected_loss)(u0)) > 0)
    fit = bg.fit(MODEL, data, "discrete_fisher")
    assert fit.converged and fit.normalizer.startswith("avoided")
    for name in ("rate", "nu"):
        assert abs(fit.params[name] - TRUTH[name]) < 3.5 * fit.stderr[name]


def _quadrature_posterior(data, points=81, width=7.0):
    """Posterior means and sds of (rate, nu) by a grid in (log λ, log ν) around the mode,
    ±``width`` Laplace sds, with the exact log Z: the ground truth for both samplers."""
    x = np.asarray(data)
    t = jnp.array([x.sum(), special.gammaln(x + 1).sum()])
    prior = MODEL.prior

    def log_post(u):
        rate, nu = jnp.exp(u[0]), jnp.exp(u[1])
        log_lik = t[0] * u[0] - nu * t[1] - len(x) * MODEL.log_z({"rate": rate, "nu": nu})
        return log_lik + prior["rate"].log_prob(rate) + prior["nu"].log_prob(nu) + u.sum()

    u = jnp.log(jnp.array([4.0, 0.75]))
    for _ in range(30):
        u = u - jnp.linalg.solve(jax.hessian(log_post)(u), jax.grad(log_post)(u))
    sd = np.sqrt(np.diag(np.linalg.inv(-jax.hessian(log_post)(u))))
    axes = [np.linspace(u[i] - width * sd[i], u[i] + width * sd[i], points) for i in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    lp = np.asarray(jax.jit(jax.vmap(log_post))(jnp.asarray(grid)))
    w = np.exp(lp - lp.max())
    w /= w.sum()
    values = np.exp(grid)
    mean = w @ values
    return mean, np.sqrt(w @ (values - mean) ** 2)


@pytest.mark.slow
def test_exchange_matches_nuts_and_both_match_quadrature(data):
    """The issue's check (Matsubara et al.'s setting: λ = 4, ν = 0.75, n = 2,000): the
    exchange posterior with exact auxiliary draws against NUTS on the exact likelihood,
    means within 4 MCSE (combined) and sds within 10%; each also against the quadrature
    posterior, and generalised Bayes with the discrete Fisher divergence runs beside them
    in a comparison table."""
    mean, sd = _quadrature_posterior(data)
    cmp = bg.compare(
        MODEL,
        data,
        methods=[
            "exact_mle",
            "discrete_fisher",
            bg.bayesian.NUTS(dense_mass=True),  # log λ and log ν correlate strongly
            bg.bayesian.GeneralizedBayes(dense_mass=True),
        ],
        truth=TRUTH,
        key=jax.random.key(5),
        num_warmup=500,
        num_samples=1000,
    )
    nuts = cmp.results["nuts"]
    # exchange mixes more slowly (ESS about 4% of its steps here, NUTS 45% of draws): three
    # times the steps (375 draws of 2 d = 4 steps)
    exchange = bg.sample_posterior(
        MODEL, data, "exchange", key=jax.random.key(6), num_warmup=125, num_samples=375
    )
    assert exchange.normalizer.startswith("cancelled: exact auxiliary draw")
    assert nuts.diagnostics()["divergences"] == 0
    for j, name in enumerate(("rate", "nu")):
        summary = {}
        for result in (nuts, exchange):
            draws, diag = result.samples[name], result.diagnostics()[name]
            assert diag["r_hat"] < 1.05, (result.method, name, diag)
            mcse = draws.std() / math.sqrt(diag["ess_bulk"])
            assert abs(draws.mean() - mean[j]) < 4 * mcse, (result.method, name, mean[j])
            np.testing.assert_allclose(draws.std(), sd[j], rtol=0.1)
            summary[result.method] = (draws.mean(), draws.std(), mcse)
        (m1, s1, e1), (m2, s2, e2) = summary["nuts"], summary["exchange"]
        assert abs(m1 - m2) < 4 * math.hypot(e1, e2)
        np.testing.assert_allclose(s2, s1, rtol=0.1)
    table = cmp.table.set_index("method")
    assert table.loc["generalized_bayes", "normalizer"].startswith("avoided: discrete_fisher")
    assert np.isfinite(table.loc["generalized_bayes", ["rate error", "nu error"]]).all()
    gb = cmp.results["generalized_bayes"]
    for name in ("rate", "nu"):
        lo, hi = gb.interval(0.99)[name]
        assert lo < TRUTH[name] < hi
