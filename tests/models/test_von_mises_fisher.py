"""The von Mises–Fisher model against scipy, closed forms and its exact sampler's law."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import bayesgen as bg

MU3 = np.array([0.6, 0.0, 0.8])
TRUTH3 = {"mu": MU3, "kappa": 5.0}


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def data3():
    return bg.models.VonMisesFisher(3).sample(jax.random.key(11), TRUTH3, 500)


@pytest.mark.parametrize("dim", [2, 3, 5, 10, 100])
@pytest.mark.parametrize("kappa", [1e-3, 1.0, 50.0, 1e4])
def test_log_density_matches_scipy(dim, kappa):
    model = bg.models.VonMisesFisher(dim)
    mu = _unit(np.arange(1.0, dim + 1))
    params = {"mu": mu, "kappa": kappa}
    x = np.asarray(model.sample(jax.random.key(0), params, 4))
    ours = np.array([float(model.log_prob(params, xi)) for xi in x])
    ref = stats.vonmises_fisher(mu, kappa).logpdf(x)
    log_c = ref - kappa * x @ mu  # scipy's log normaliser: within 1e-10 relative of it
    np.testing.assert_allclose(ours - kappa * x @ mu, log_c, rtol=1e-10)


@pytest.mark.parametrize("kappa", [0.5, 5.0, 200.0])
def test_exact_sampler_has_the_law_of_mu_dot_x_and_its_mean(kappa):
    """On S^2, w = μᵀx has CDF (e^{κw} - e^{-κ}) / (e^κ - e^{-κ}): a KS test of 4,000 draws;
    and the mean of x is A_3(κ) μ (the model's expected statistics) within 4 SE."""
    model = bg.models.VonMisesFisher(3)
    mu = _unit([1.0, -2.0, 0.5])
    x = np.asarray(model.sample(jax.random.key(1), {"mu": mu, "kappa": kappa}, 4000))
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-12)
    w = x @ mu

    def cdf(t):  # written to stay finite at large κ
        return np.exp(kappa * (t - 1)) * np.expm1(-kappa * (1 + t)) / np.expm1(-2 * kappa)

    assert stats.kstest(w, cdf).pvalue > 1e-3
    expected = np.asarray(model.expected_statistics({"mu": mu, "kappa": kappa}))
    se = x.std(0, ddof=1) / np.sqrt(len(x))
    assert (np.abs(x.mean(0) - expected) < 4 * se + 1e-12).all()


def test_exact_mle_agrees_with_scipy_fit(data3):
    model = bg.models.VonMisesFisher(3)
    fit = bg.fit(model, data3, "exact_mle")
    mu_ref, kappa_ref = stats.vonmises_fisher.fit(np.asarray(data3))
    assert fit.converged
    np.testing.assert_allclose(fit.params["kappa"], kappa_ref, rtol=1e-6)
    np.testing.assert_allclose(fit.params["mu"], mu_ref, atol=1e-6)
    # The sandwich matches the Fisher information: the SE of κ is 1/sqrt(n A_3'(κ)), of a
    # tangent coordinate of μ 1/sqrt(n κ A_3(κ)). The sandwich's meat is a sample variance
    # of per-datum scores s_i, so its SE estimate has relative error ½ sqrt((m4/m2² - 1)/n),
    # computed from the scores; the test allows 4 of those.
    x, n = np.asarray(data3), len(data3)
    k, mu = float(fit.params["kappa"]), np.asarray(fit.params["mu"])
    a = 1 / np.tanh(k) - 1 / k

    def tolerance(scores):
        s = scores - scores.mean()
        return 4 * 0.5 * np.sqrt((np.mean(s**4) / np.mean(s**2) ** 2 - 1) / n)

    se_kappa = 1 / np.sqrt(n * (1 - a * a - 2 * a / k))
    np.testing.assert_allclose(fit.stderr["kappa"], se_kappa, rtol=tolerance(x @ mu))
    tangent = np.asarray(fit.stderr["mu"])[1]  # μ ≈ (.6, 0, .8): coordinate 1 is tangent
    np.testing.assert_allclose(tangent, 1 / np.sqrt(n * k * a), rtol=tolerance(x[:, 1]))


def test_score_matching_on_the_sphere_equals_its_closed_form(data3):
    """Riemannian score matching for the vMF: κμ = (d - 1) (I - S)⁻¹ x̄, S = mean x xᵀ
    (Mardia, Kent & Laha 2016)."""
    model = bg.models.VonMisesFisher(3)
    fit = bg.fit(model, data3, "score_matching")
    x = np.asarray(data3)
    eta = 2 * np.linalg.solve(np.eye(3) - x.T @ x / len(x), x.mean(0))
    np.testing.assert_allclose(fit.params["kappa"], np.linalg.norm(eta), rtol=1e-8)
    np.testing.assert_allclose(fit.params["mu"], eta / np.linalg.norm(eta), atol=1e-8)


def test_nce_estimates_the_log_normaliser(data3):
    """NCE with uniform noise on the sphere: its free log Z lands within 3 of its standard
    errors of the exact log Z at its own estimate, and κ within 3 SE of the truth."""
    model = bg.models.VonMisesFisher(3)
    fit = bg.fit(model, data3, "nce")
    exact = float(model.log_normalizer(fit.params))
    c, se = float(fit.nuisance["log_normalizer"]), float(fit.nuisance_stderr["log_normalizer"])
    assert abs(c - exact) < 3 * se
    assert abs(float(fit.params["kappa"]) - 5.0) < 3 * float(fit.stderr["kappa"])


@pytest.mark.parametrize("method", ["nuts", "generalized_bayes"])
def test_posteriors_contain_the_truth(data3, method):
    model = bg.models.VonMisesFisher(3)
    post = bg.sample_posterior(model, data3, method, num_warmup=300, num_samples=300)
    diag = post.diagnostics()
    assert diag["divergences"] == 0
    assert max(v["r_hat"] for v in diag.values() if isinstance(v, dict)) < 1.05
    for name, truth in TRUTH3.items():
        draws = post.samples[name].reshape(-1, *np.shape(truth))
        z = (draws.mean(0) - truth) / draws.std(0)
        assert (np.abs(z) < 3.5).all(), (name, z)
    norms = np.linalg.norm(post.samples["mu"], axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-12)


def test_methods_that_apply_and_bad_input():
    from bayesgen.evaluation.compare import applicable_methods

    model = bg.models.VonMisesFisher(3)
    assert set(applicable_methods(model)) == {
        "exact_mle", "contrastive_divergence", "mcmle", "score_matching", "nce",
        "nuts", "exchange", "generalized_bayes",
    }  # fmt: skip
    for method in ("sliced_score_matching", "denoising_score_matching"):
        with pytest.raises(bg.MethodError, match="not real"):
            bg.fit(model, np.eye(3), method)
    with pytest.raises(bg.DataError, match="datum 1: its norm is 2, not 1"):
        model.validate(np.array([[1.0, 0, 0], [0, 2.0, 0]]))
    with pytest.raises(bg.DataError, match="shape"):
        model.validate(np.ones((4, 2)))
    with pytest.raises(bg.DataError, match="non-finite"):
        model.validate(np.array([[np.nan, 0, 1.0]]))
    with pytest.raises(bg.ParameterError, match="unit vector"):
        model.check_params({"mu": jnp.ones(3), "kappa": 1.0})
    with pytest.raises(bg.ParameterError, match="domain"):
        model.check_params({"mu": MU3, "kappa": -1.0})
    with pytest.raises(bg.ParameterError, match="dim"):
        bg.models.VonMisesFisher(1)
