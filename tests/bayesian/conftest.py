"""The exact Ising 4 x 4 posterior, computed another way: from the density of states
(all 2^16 configurations enumerated by itertools) on a grid of (beta, h)."""

import itertools

import jax
import numpy as np
import pytest
from scipy.special import logsumexp

import bayesgen as bg


@pytest.fixture(scope="session")
def ising4_data():
    """500 exact draws of the Ising 4 x 4 at beta = 0.3, h = 0.05 (the issue's dataset)."""
    model = bg.models.Ising((4, 4))
    return model.sample(jax.random.key(2026), {"beta": 0.3, "h": 0.05}, 500)


@pytest.fixture(scope="session")
def ising4_log_joint():
    """``(data, theta (m, 2)) -> log p(data | theta) + log N(theta; 0, I)`` per grid point."""
    s = np.array(list(itertools.product([-1.0, 1.0], repeat=16))).reshape(-1, 4, 4)
    t = np.stack(
        [np.sum(s * (np.roll(s, -1, 1) + np.roll(s, -1, 2)), axis=(1, 2)), s.sum(axis=(1, 2))], 1
    )
    states, counts = np.unique(t, axis=0, return_counts=True)  # the density of states

    def log_joint(data, theta):
        x = np.asarray(data)
        t_sum = np.stack([np.sum(x * (np.roll(x, -1, 1) + np.roll(x, -1, 2))), x.sum()])
        log_z = logsumexp(np.log(counts)[None] + theta @ states.T, axis=1)
        log_prior = -0.5 * (theta**2).sum(1) - np.log(2 * np.pi)  # N(0, 1) priors
        return theta @ t_sum - len(x) * log_z + log_prior

    return log_joint


@pytest.fixture(scope="session")
def grid_posterior(ising4_data, ising4_log_joint):
    """Posterior mean and sd of (beta, h) given ``ising4_data``, by quadrature on a fine grid."""
    b, h = np.meshgrid(np.linspace(0.26, 0.35, 301), np.linspace(0.0, 0.1, 301), indexing="ij")
    theta = np.stack([b.ravel(), h.ravel()], 1)
    log_post = ising4_log_joint(ising4_data, theta)
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = w @ theta
    sd = np.sqrt(w @ (theta - mean) ** 2)
    return mean, sd
