"""The generic data-space kernels (site-by-site Gibbs, MALA) leave p_θ invariant: chains'
mean statistics match exact expectations within 4 Monte Carlo standard errors (from an
effective sample size), and the same check rejects a kernel aimed at the wrong target."""

import jax
import numpy as np
from numpyro.diagnostics import effective_sample_size

import bayesgen as bg
from bayesgen.samplers import gibbs, hmc, langevin


def _chains(step, x0, num_steps, key):
    def body(x, k):
        x = jax.vmap(step)(jax.random.split(k, x.shape[0]), x)
        return x, x

    _, xs = jax.lax.scan(body, x0, jax.random.split(key, num_steps))
    return np.asarray(xs).swapaxes(0, 1)  # (chains, draws, ...)


def _z_scores(stats, expected):
    """(mean - expected) / MCSE per statistic, stats of shape (chains, draws, k)."""
    ess = effective_sample_size(stats)
    return (stats.mean((0, 1)) - expected) / (stats.std((0, 1)) / np.sqrt(ess))


def test_site_by_site_gibbs_targets_the_ising_model():
    model, params = bg.models.Ising((3, 3)), {"beta": 0.4, "h": 0.1}
    x0 = model.sample(jax.random.key(0), params, 64)
    expected = np.asarray(model.expected_statistics(params))

    def step_for(beta):
        p = {"beta": beta, "h": 0.1}
        return lambda k, x: gibbs.sweep(k, lambda v: model.log_f(p, v), x, (-1.0, 1.0))

    xs = _chains(step_for(0.4), x0, 500, jax.random.key(1))
    stats = np.asarray(jax.vmap(jax.vmap(model.statistics))(xs))
    assert (np.abs(_z_scores(stats, expected)) < 4).all()
    wrong = _chains(step_for(0.5), x0, 500, jax.random.key(1))
    stats = np.asarray(jax.vmap(jax.vmap(model.statistics))(wrong))
    assert (np.abs(_z_scores(stats, expected)) > 4).any()


def test_mala_targets_the_gaussian():
    model = bg.models.Gaussian(2)
    cov = np.array([[1.0, 0.5], [0.5, 2.0]])
    params = {"mu": np.array([1.0, -1.0]), "precision": np.linalg.inv(cov)}
    x0 = model.sample(jax.random.key(0), params, 64)
    expected = np.asarray(model.expected_statistics(params))

    def step_for(p):
        return lambda k, x: model.mcmc_sweep(k, p, x, step_size=0.8)

    xs = _chains(step_for(model.check_params(params)), x0, 1000, jax.random.key(2))
    stats = np.asarray(jax.vmap(jax.vmap(model.statistics))(xs))
    assert (np.abs(_z_scores(stats, expected)) < 4).all()
    shifted = model.check_params({**params, "mu": np.array([1.2, -1.0])})
    stats = np.asarray(
        jax.vmap(jax.vmap(model.statistics))(
            _chains(step_for(shifted), x0, 1000, jax.random.key(2))
        )
    )
    assert (np.abs(_z_scores(stats, expected)) > 4).any()


def test_hmc_targets_the_gaussian_and_rejects_a_wrong_one():
    """Seven leapfrog steps of 0.25 per transition (not half a period of any coordinate,
    where draws turn antithetic and ESS estimates break down): the chains' first and second
    moments match the Gaussian's within 4 MCSE, and a kernel aimed at a shifted mean fails
    the same check."""
    model = bg.models.Gaussian(2)
    cov = np.array([[1.0, 0.5], [0.5, 2.0]])
    params = model.check_params({"mu": np.array([1.0, -1.0]), "precision": np.linalg.inv(cov)})
    x0 = model.sample(jax.random.key(0), params, 64)
    expected = np.asarray(model.expected_statistics(params))

    def step_for(p):
        def log_f(v):
            return model.log_f(p, v)

        return lambda k, x: hmc.step(k, log_f, x, 0.25, 7)

    def stats_of(p):
        xs = _chains(step_for(p), x0, 400, jax.random.key(3))
        return np.asarray(jax.vmap(jax.vmap(model.statistics))(xs))

    assert (np.abs(_z_scores(stats_of(params), expected)) < 4).all()
    shifted = {**params, "mu": params["mu"] + np.array([0.2, 0.0])}
    assert (np.abs(_z_scores(stats_of(shifted), expected)) > 4).any()
    # a huge step is rejected: the chain stays put rather than diverging
    x = np.array([0.3, -0.2])
    np.testing.assert_allclose(hmc.step(jax.random.key(0), lambda v: -0.5 * v @ v, x, 50.0), x)


def test_mala_rejects_what_it_should():
    # A huge step is almost always rejected: the chain stays put rather than diverging.
    x = np.array([0.3, -0.2])
    out = langevin.step(jax.random.key(0), lambda v: -0.5 * v @ v, x, 50.0)
    np.testing.assert_allclose(out, x)
