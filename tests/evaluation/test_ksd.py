"""The Stein kernels against exact expectations (enumeration, Gauss-Hermite quadrature),
and the KSD U-statistic: centred at zero under the model, large under a wrong one."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.evaluation import kernel_stein_discrepancy, stein_kernel

ISING = bg.models.Ising((3, 3))
PARAMS = {"beta": jnp.asarray(0.4), "h": jnp.asarray(-0.1)}


def test_discrete_stein_identity_by_enumeration():
    states = np.array(list(itertools.product([-1.0, 1.0], repeat=9))).reshape(-1, 3, 3)
    xs = jnp.asarray(states)
    weights = jnp.exp(jax.vmap(lambda x: ISING.log_prob(PARAMS, x))(xs))
    kappa = stein_kernel(ISING, PARAMS)
    for y in xs[np.array([0, 7, 200, 511])]:  # E_{x ~ p} κ(x, y) = 0 for every y
        assert abs(float(jnp.sum(weights * jax.vmap(kappa, (0, None))(xs, y)))) < 1e-12


def test_gaussian_stein_identity_by_quadrature():
    model = bg.models.Gaussian(1)
    params = {"mu": jnp.array([0.5]), "precision": jnp.array([[2.0]])}
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    xs = jnp.asarray(0.5 + nodes / np.sqrt(2.0))[:, None]
    kappa = stein_kernel(model, params)
    for y in (-1.0, 0.3, 2.0):
        values = np.asarray(jax.vmap(kappa, (0, None))(xs, jnp.array([y])))
        assert abs(np.sum(weights / weights.sum() * values)) < 1e-8


def test_u_statistic_is_centred_under_the_model_and_large_otherwise():
    keys = jax.random.split(jax.random.key(7), 12)
    at_truth = [kernel_stein_discrepancy(ISING, PARAMS, ISING.sample(k, PARAMS, 300)) for k in keys]
    mean, se = np.mean(at_truth), np.std(at_truth, ddof=1) / np.sqrt(len(at_truth))
    assert abs(mean) < 3 * se  # unbiased for KSD² = 0
    data = ISING.sample(keys[0], PARAMS, 300)
    wrong = kernel_stein_discrepancy(ISING, {"beta": 0.2, "h": -0.1}, data)  # half the coupling
    assert wrong > 5 * np.std(at_truth, ddof=1)  # far outside the null distribution


def test_unsupported_and_bad_data():
    with pytest.raises(bg.DataError):
        kernel_stein_discrepancy(ISING, PARAMS, np.zeros((5, 3, 3)))


def test_discrete_ksd_ranks_fits_up_to_its_size_limit_and_is_not_shown_beyond():
    # 10 x 10 (exact draws by the transfer matrix): the truth's KSD sits inside the spread
    # of its own replicates, half the coupling lies far outside it.
    model = bg.models.Ising((10, 10))
    assert model.n_sites == bg.evaluation.ksd.MAX_DISCRETE_SITES
    params = {"beta": 0.3, "h": 0.0}
    keys = jax.random.split(jax.random.key(3), 6)
    at_truth = [kernel_stein_discrepancy(model, params, model.sample(k, params, 100)) for k in keys]
    data = model.sample(keys[0], params, 100)
    wrong = kernel_stein_discrepancy(model, {"beta": 0.15, "h": 0.0}, data)
    assert abs(np.mean(at_truth)) < 3 * np.std(at_truth, ddof=1) / np.sqrt(len(keys))
    assert wrong > 5 * np.std(at_truth, ddof=1)
    big = bg.models.Ising((16, 16))
    with pytest.raises(bg.MethodError, match="not shown beyond"):
        kernel_stein_discrepancy(big, params, -np.ones((2, 16, 16)))
    with pytest.raises(bg.MethodError, match="two data"):
        kernel_stein_discrepancy(model, params, data[:1])
