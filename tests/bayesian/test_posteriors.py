"""NUTS and the exchange algorithm against the exact posterior of the Ising 4 x 4, computed
another way: on a grid, from the exact density of states (enumeration of all 2^16
configurations by itertools), by quadrature."""

import arviz as az
import jax
import numpy as np
import pytest

import bayesgen as bg
from bayesgen._compiled import cached

MODEL = bg.models.Ising((4, 4))
TRUTH = {"beta": 0.3, "h": 0.05}


@pytest.fixture(scope="module")
def data(ising4_data):
    return ising4_data


def _agrees(result, mean, sd):
    for j, name in enumerate(("beta", "h")):
        draws = result.samples[name]
        diag = result.diagnostics()[name]
        mcse = draws.std() / np.sqrt(diag["ess_bulk"])
        assert abs(draws.mean() - mean[j]) < 4 * mcse, (result.method, name, draws.mean(), mean[j])
        np.testing.assert_allclose(draws.std(), sd[j], rtol=0.1)
        assert diag["r_hat"] < 1.01, (result.method, name, diag)


def test_nuts_matches_the_quadrature_posterior(data, grid_posterior):
    result = bg.sample_posterior(MODEL, data, "nuts", key=jax.random.key(1))
    assert result.normalizer == MODEL.normalizer and result.side == "bayesian"
    assert result.diagnostics()["divergences"] == 0
    _agrees(result, *grid_posterior)
    tree = result.to_arviz()
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(tree.children)
    assert tree["log_likelihood"]["x"].shape == (4, 1000, 500)
    # The per-datum log-likelihood is exact: its sum at a draw is the exact log-likelihood.
    draw = {k: v[0, 0] for k, v in result.samples.items()}
    np.testing.assert_allclose(
        result.log_likelihood[0, 0].sum(), float(MODEL.log_likelihood(draw, data)), rtol=1e-10
    )
    assert np.isfinite(az.loo(tree).elpd)


def test_exchange_with_exact_auxiliary_draws_matches(data, grid_posterior):
    result = bg.sample_posterior(
        MODEL, data, "exchange", key=jax.random.key(2), num_warmup=250, num_samples=750
    )
    assert result.normalizer.startswith("cancelled: exact auxiliary draw")
    _agrees(result, *grid_posterior)
    lo, hi = result.interval(0.95)["beta"]
    assert lo < TRUTH["beta"] < hi


@pytest.mark.slow
def test_approximate_exchange_with_gibbs_auxiliary_draws_matches(data, grid_posterior):
    method = bg.bayesian.Exchange(auxiliary="mcmc")  # checkerboard sweeps from the data
    result = bg.sample_posterior(
        MODEL, data, method, key=jax.random.key(3), num_warmup=250, num_samples=500
    )
    assert result.normalizer.startswith(
        "cancelled approximately: auxiliary draw by autocorrelation-chosen sweeps"
    )
    assert int(result.info["num_sweeps"]) >= 20 and float(result.info["lag_correlation"]) <= 0.05
    _agrees(result, *grid_posterior)


def _transfer_matrix_grid_posterior(model, data, width=7.0, points=41):
    """Posterior mean and sd by quadrature on a grid of +-``width`` Laplace sds around the
    mode, with log Z from the transfer matrix (no enumeration at 8 x 8)."""
    x = np.asarray(data)
    t_sum = np.array([np.sum(x * (np.roll(x, -1, 1) + np.roll(x, -1, 2))), x.sum()])

    def log_post(theta):
        params = {"beta": theta[0], "h": theta[1]}
        return theta @ t_sum - len(x) * model.log_normalizer(params) - 0.5 * theta @ theta

    grad, hess = jax.jit(jax.grad(log_post)), jax.jit(jax.hessian(log_post))
    theta = np.array([0.3, 0.0])
    for _ in range(8):  # Newton to the mode
        theta = theta - np.linalg.solve(np.asarray(hess(theta)), np.asarray(grad(theta)))
    sd = np.sqrt(np.diag(np.linalg.inv(-np.asarray(hess(theta)))))
    axes = [
        np.linspace(m - width * s, m + width * s, points) for m, s in zip(theta, sd, strict=True)
    ]
    b, h = np.meshgrid(*axes, indexing="ij")
    grid = np.stack([b.ravel(), h.ravel()], 1)
    lp = np.asarray(jax.jit(jax.vmap(log_post))(grid))
    w = np.exp(lp - lp.max())
    w /= w.sum()
    mean = w @ grid
    return mean, np.sqrt(w @ (grid - mean) ** 2)


@pytest.mark.slow
def test_approximate_exchange_matches_the_transfer_matrix_posterior_on_8x8():
    model = bg.models.Ising((8, 8))
    assert model.normalizer == "exact: transfer matrix"
    data = model.sample(jax.random.key(88), TRUTH, 100)
    mean, sd = _transfer_matrix_grid_posterior(model, data)
    method = bg.bayesian.Exchange(auxiliary="mcmc")
    result = bg.sample_posterior(
        model, data, method, key=jax.random.key(4), num_warmup=500, num_samples=1250
    )
    _agrees(result, mean, sd)


def test_generalized_bayes_is_calibrated_and_covers_the_truth(data, grid_posterior):
    result = bg.sample_posterior(MODEL, data, "generalized_bayes", key=jax.random.key(5))
    assert result.normalizer.startswith("avoided: ratio_matching loss, weight calibrated")
    # The weight tr(H J^-1 H) / tr(H), recomputed in numpy by finite differences of the
    # ratio-matching loss written from the Ising conditionals at the reported minimiser.
    x = np.asarray(data)
    nb = sum(np.roll(x, s, a) for s in (1, -1) for a in (1, 2))

    def losses(theta):  # per datum: Σ_i (1 - p(x_i | x_-i))² = Σ_i sigmoid(-2 x_i η_i)²
        eta = theta[0] * nb + theta[1]
        return np.sum((1.0 / (1.0 + np.exp(2.0 * x * eta))) ** 2, axis=(1, 2))

    t_hat = np.array([result.info["loss_minimizer.beta"], result.info["loss_minimizer.h"]])
    e, eps = np.eye(2), 1e-5
    grads = np.stack(
        [(losses(t_hat + eps * e[j]) - losses(t_hat - eps * e[j])) / (2 * eps) for j in range(2)], 1
    )
    assert np.abs(grads.mean(0)).max() < 1e-6  # the reported minimiser is the minimiser
    hess = np.array(
        [
            [
                (
                    losses(t_hat + eps * (e[i] + e[j]))
                    - losses(t_hat + eps * (e[i] - e[j]))
                    - losses(t_hat - eps * (e[i] - e[j]))
                    + losses(t_hat - eps * (e[i] + e[j]))
                ).mean()
                / (4 * eps**2)
                for j in range(2)
            ]
            for i in range(2)
        ]
    )
    info = np.cov(grads.T, bias=True)
    expected = np.trace(hess @ np.linalg.solve(info, hess)) / np.trace(hess)
    np.testing.assert_allclose(float(result.info["weight"]), expected, rtol=1e-4)
    for name, (lo, hi) in result.interval(0.95).items():
        assert lo < TRUTH[name] < hi, (name, lo, hi)
    # The calibration matches the posterior's spread to the loss minimiser's sandwich: a
    # Z-free estimator is less efficient than the likelihood, so never narrower than exact.
    _, sd = grid_posterior
    for j, name in enumerate(("beta", "h")):
        assert result.samples[name].std() > 0.9 * sd[j]
    assert result.diagnostics()["divergences"] == 0


@pytest.mark.slow
def test_adjusted_pseudo_posterior_has_the_exact_spread(data, grid_posterior):
    mean, sd = grid_posterior
    result = bg.sample_posterior(MODEL, data, "pseudo_posterior", key=jax.random.key(6))
    plain = bg.sample_posterior(
        MODEL,
        data,
        bg.bayesian.PseudoPosterior(adjust=False),
        key=jax.random.key(6),
        num_warmup=500,
        num_samples=500,
    )
    for j, name in enumerate(("beta", "h")):
        lo, hi = result.interval(0.95)[name]
        assert lo < TRUTH[name] < hi, (name, lo, hi)
        np.testing.assert_allclose(result.samples[name].std(), sd[j], rtol=0.25)
        # the Monte Carlo mode is within about 0.16 posterior sds (see the module docstring)
        assert abs(result.samples[name].mean() - mean[j]) < 0.75 * sd[j]
    # Without the adjustment the spread of h is off by far more than 25% on these data.
    assert abs(plain.samples["h"].std() / sd[1] - 1) > 0.5
    assert set(result.info) >= {"adjustment", "pseudo_mode.beta", "posterior_mode.h"}


def test_exchange_runs_sequentially_and_does_not_recompile(data):
    other = MODEL.sample(jax.random.key(9), TRUTH, 500)
    kw = {"num_warmup": 50, "num_samples": 50, "num_chains": 2, "chain_method": "sequential"}
    bg.sample_posterior(MODEL, data, "exchange", **kw)
    size = len(cached(MODEL))
    result = bg.sample_posterior(MODEL, other, "exchange", **kw)
    assert len(cached(MODEL)) == size  # same shapes: the compiled loop is reused
    assert result.timing["compile_s"] < 0.5
    assert result.samples["beta"].shape == (2, 50)


def test_bad_requests_are_package_errors(data):
    with pytest.raises(bg.MethodError, match="available: exchange, generalized_bayes, nuts"):
        bg.sample_posterior(MODEL, data, "gibbs")
    with pytest.raises(bg.IntractableNormalizerError, match="exchange"):
        bg.sample_posterior(bg.models.Ising((16, 16)), np.ones((3, 16, 16)), "nuts")
    with pytest.raises(bg.MethodError, match="num_chains"):
        bg.sample_posterior(MODEL, data, "nuts", num_chains=0)
    with pytest.raises(bg.MethodError, match="chain_method"):
        bg.sample_posterior(MODEL, data, "nuts", chain_method="parallel-ish")
    with pytest.raises(bg.DataError):
        bg.sample_posterior(MODEL, np.zeros((3, 4, 4)), "nuts")
    gaussian = bg.models.Gaussian(2)
    with pytest.raises(bg.MethodError, match=r"pseudo_posterior.*not a finite set of values"):
        bg.sample_posterior(gaussian, np.zeros((5, 2)), "pseudo_posterior")
    with pytest.raises(bg.MethodError, match="ratio matching needs finitely many values"):
        bg.sample_posterior(
            gaussian, np.zeros((5, 2)), bg.bayesian.GeneralizedBayes("ratio_matching")
        )
