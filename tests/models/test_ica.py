"""The ICA model of Gutmann & Hyvärinen (2010): closed-form log Z against quadrature and
the source law, and noise-contrastive estimation of the log normaliser."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import bayesgen as bg

MODEL = bg.models.ICA(4)
TRUTH = MODEL.default_truth


@pytest.fixture(scope="module")
def data():
    return MODEL.sample(jax.random.key(0), TRUTH, 2000)


def test_log_normalizer_matches_quadrature_in_two_dimensions():
    """In polar coordinates ∫∫ exp(-√2 r g(φ)) r dr dφ = ∫ dφ / (2 g(φ)²), with
    g(φ) = Σ_i |b_iᵀ(cos φ, sin φ)|: one integral over the angle, by scipy's adaptive
    quadrature told the angles of the kinks (b_iᵀu = 0)."""
    model = bg.models.ICA(2)
    b = np.array([[1.0, 0.4], [-0.3, 0.8]])

    def integrand(phi):
        return 1.0 / (2.0 * np.abs(b @ np.array([np.cos(phi), np.sin(phi)])).sum() ** 2)

    kinks = sorted(
        (math.atan2(-row[0], row[1]) + k * math.pi) % (2 * math.pi) for row in b for k in (0, 1)
    )
    value, err = integrate.quad(integrand, 0, 2 * math.pi, points=kinks, epsabs=0, epsrel=1e-13)
    assert err < 1e-11 * value
    np.testing.assert_allclose(float(model.log_normalizer({"B": b})), math.log(value), rtol=1e-11)


def test_sampler_has_unit_variance_laplace_sources(data):
    s = np.asarray(data) @ np.asarray(TRUTH["B"]).T  # the sources, recovered exactly
    for i in range(4):
        assert stats.kstest(s[:, i], stats.laplace(scale=1 / math.sqrt(2)).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.cov(s.T), np.eye(4), atol=4 * math.sqrt(2 / len(s)) * 1.6)


def test_nce_recovers_the_log_normalizer(data):
    """The free constant of NCE against -log Z(B) = log |det B| - (P/2) log 2 at the truth,
    within 3 of its sandwich standard errors; the estimate of B agrees with the truth up to
    the rows' order and signs."""
    fit = bg.fit(MODEL, data, "nce", key=jax.random.key(1))
    assert fit.converged
    truth_log_z = float(MODEL.log_normalizer(TRUTH))
    estimate, se = (
        float(fit.nuisance["log_normalizer"]),
        float(fit.nuisance_stderr["log_normalizer"]),
    )
    assert abs(estimate - truth_log_z) < 3 * se, (estimate, truth_log_z, se)
    assert se < 0.06  # and the test has power: 3 SE is under 0.18 nats
    # B̂ B⁻¹ is a signed permutation matrix, up to estimation error
    m = np.asarray(fit.params["B"]) @ np.linalg.inv(np.asarray(TRUTH["B"]))
    np.testing.assert_allclose(np.sort(np.abs(m), axis=1)[:, -1], 1.0, atol=0.1)
    np.testing.assert_allclose(np.sort(np.abs(m), axis=1)[:, :-1], 0.0, atol=0.1)


def test_exact_mle_is_permutation_and_sign_equivalent_to_the_truth(data):
    fit = bg.fit(MODEL, data, "exact_mle")
    assert fit.converged
    m = np.asarray(fit.params["B"]) @ np.linalg.inv(np.asarray(TRUTH["B"]))
    np.testing.assert_allclose(np.sort(np.abs(m), axis=1)[:, -1], 1.0, atol=0.1)
    # the log-likelihood at the MLE is at least that at the truth
    assert MODEL.log_likelihood(fit.params, data) >= MODEL.log_likelihood(TRUTH, data)


def test_score_matching_refuses_a_density_with_kinks():
    with pytest.raises(bg.MethodError, match="not smooth"):
        bg.fit(MODEL, np.zeros((10, 4)), "score_matching")
    with pytest.raises(bg.MethodError, match="smooth density"):
        bg.sample_posterior(
            MODEL, np.zeros((10, 4)), bg.bayesian.GeneralizedBayes("score_matching")
        )
    assert jnp.isfinite(MODEL.log_normalizer(MODEL.initial_params()))
