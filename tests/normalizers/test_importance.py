"""Importance-sampled log Z ratios against the exact ratio from enumeration."""

import jax
import numpy as np

import bayesgen as bg
from bayesgen.normalizers import effective_sample_size, log_normalizer_ratio


def test_log_normalizer_ratio_matches_enumeration():
    model = bg.models.Ising((3, 3))
    psi, theta = {"beta": 0.2, "h": 0.0}, {"beta": 0.3, "h": 0.1}
    y = model.sample(jax.random.key(0), psi, 20000)
    log_f = jax.vmap(model.log_f, (None, 0))
    log_w = log_f(model.check_params(theta), y) - log_f(model.check_params(psi), y)
    exact = model.log_normalizer(theta) - model.log_normalizer(psi)
    w = np.exp(np.asarray(log_w))
    mcse = w.std() / w.mean() / np.sqrt(len(w))  # delta method for the log of a mean
    assert abs(float(log_normalizer_ratio(log_w)) - float(exact)) < 4 * mcse
    ess = float(effective_sample_size(log_w))
    np.testing.assert_allclose(ess, w.sum() ** 2 / (w**2).sum(), rtol=1e-10)
    assert 0 < ess <= len(w)
