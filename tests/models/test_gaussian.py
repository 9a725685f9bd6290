"""The Gaussian reference model against scipy's closed forms."""

import jax
import numpy as np
import pytest
from scipy import stats

import bayesgen as bg

MU = np.array([0.5, -1.0, 2.0])
COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
PARAMS = {"mu": MU, "precision": np.linalg.inv(COV)}


def test_log_prob_matches_scipy():
    model = bg.models.Gaussian(3)
    x = np.random.default_rng(0).normal(size=(20, 3))
    lp = jax.vmap(model.log_prob, (None, 0))(PARAMS, x)
    np.testing.assert_allclose(lp, stats.multivariate_normal(MU, COV).logpdf(x), rtol=1e-12)


def test_sample_moments_and_expected_statistics():
    model = bg.models.Gaussian(3)
    n = 20000
    x = np.asarray(model.sample(jax.random.key(0), PARAMS, n))
    t = np.asarray(jax.vmap(model.statistics)(x))
    se = t.std(0, ddof=1) / np.sqrt(n)
    assert (np.abs(t.mean(0) - np.asarray(model.expected_statistics(PARAMS))) < 4 * se).all()
    # Sample covariance within 4 standard errors (var of s_ij ≈ (σ_ij² + σ_ii σ_jj) / n).
    se_cov = np.sqrt((COV**2 + np.outer(np.diag(COV), np.diag(COV))) / n)
    assert (np.abs(np.cov(x.T) - COV) < 4 * se_cov).all()


def test_bad_precision_and_data():
    model = bg.models.Gaussian(2)
    with pytest.raises(bg.ParameterError, match="positive-definite"):
        model.log_normalizer({"mu": np.zeros(2), "precision": np.array([[1.0, 2.0], [2.0, 1.0]])})
    with pytest.raises(bg.DataError, match=r"datum 1 has a non-finite value \(inf\)"):
        model.validate(np.array([[0.0, 1.0], [np.inf, 0.0]]))
