"""Checkerboard Gibbs: the mean sufficient statistics match the exact expectations (from the
exact log Z) within 4 Monte Carlo standard errors, with the standard error from an effective
sample size, at a high and a low temperature; and the same check rejects a wrong target."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size

import bayesgen as bg
from bayesgen.samplers import checkerboard


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 5), (2, 3), (6, 7)])
def test_coloring_is_proper_on_the_torus(shape):
    colors, k = checkerboard.lattice_coloring(shape)
    assert k == (2 if shape[0] % 2 == 0 and shape[1] % 2 == 0 else 3)
    assert (colors != np.roll(colors, 1, 0)).all() and (colors != np.roll(colors, 1, 1)).all()


def _mcse_check(shape, beta, h, key):
    model = bg.models.Ising(shape)
    draws = checkerboard.sample(
        jax.random.key(key), beta, h, shape, num_chains=64, num_samples=2000, burn_in=200
    )
    stats = jax.vmap(jax.vmap(model.statistics))(draws)  # (chains, draws, 2)
    stats = np.asarray(stats)
    mean = stats.mean(axis=(0, 1))
    ess = np.array([effective_sample_size(stats[None, ..., i][0]) for i in range(2)])
    mcse = stats.std(axis=(0, 1)) / np.sqrt(ess)
    return model, mean, mcse, ess


@pytest.mark.parametrize(("beta", "h"), [(0.2, 0.05), (0.6, 0.05)], ids=["hot", "cold"])
def test_gibbs_matches_exact_expectations(beta, h):
    model, mean, mcse, ess = _mcse_check((4, 4), beta, h, key=1)
    exact = np.asarray(model.expected_statistics({"beta": beta, "h": h}))
    # Below the critical temperature the magnetisation flips sign rarely (ESS ~ 60 of
    # 128,000 draws at beta = 0.6); the standard error accounts for it through the ESS.
    assert (ess > 40).all(), ess
    assert (np.abs(mean - exact) < 4 * mcse).all(), (mean, exact, mcse)
    # The check has power: the same draws are far from the expectations at a nearby beta.
    wrong = np.asarray(model.expected_statistics({"beta": beta * 0.9, "h": h}))
    assert np.abs(mean - wrong)[0] > 4 * mcse[0]


def test_gibbs_odd_lattice_uses_three_colours_correctly():
    # Odd sides need the third colour; a two-colour update there would be biased.
    model, mean, mcse, _ = _mcse_check((3, 5), 0.5, -0.1, key=2)
    exact = np.asarray(model.expected_statistics({"beta": 0.5, "h": -0.1}))
    assert (np.abs(mean - exact) < 4 * mcse).all(), (mean, exact, mcse)


def test_sample_shapes_burn_in_and_thinning():
    draws = checkerboard.sample(
        jax.random.key(0), 0.3, 0.0, (8, 6), num_chains=3, num_samples=5, burn_in=0, thin=2
    )
    assert draws.shape == (3, 5, 8, 6)
    assert set(np.unique(np.asarray(draws)).tolist()) <= {-1.0, 1.0}
    start = jnp.ones((2, 8, 6))
    frozen = checkerboard.sample(
        jax.random.key(0),
        50.0,
        50.0,
        (8, 6),
        num_chains=2,
        num_samples=3,
        burn_in=5,
        init_spins=start,
    )
    assert (np.asarray(frozen) == 1.0).all()  # a huge field keeps every spin up
    with pytest.raises(ValueError, match="thin"):
        checkerboard.sample(jax.random.key(0), 0.3, 0.0, (8, 6), thin=0)


def test_sweep_is_jittable_and_vmappable_over_parameters():
    spins = checkerboard.init(jax.random.key(0), (4, 4), 8)
    betas = jnp.linspace(0.0, 1.0, 8)
    step = jax.jit(jax.vmap(lambda k, s, b: checkerboard.sweep(k, s, b, 0.0)))
    out = step(jax.random.split(jax.random.key(1), 8), spins, betas)
    assert out.shape == spins.shape


def test_exact_sampler_matches_brute_force_probabilities():
    # Ising 2x2: 16 states; compare empirical frequencies with exact probabilities (chi-square).
    from scipy import stats as st

    model = bg.models.Ising((2, 2))
    p = {"beta": 0.4, "h": 0.3}
    n = 20000
    x = np.asarray(model.sample(jax.random.key(3), p, n)).reshape(n, 4)
    configs = np.array(list(itertools.product([-1.0, 1.0], repeat=4)))
    logf = np.array([float(model.log_unnormalized(p, c.reshape(2, 2))) for c in configs])
    prob = np.exp(logf - np.logaddexp.reduce(logf))
    counts = np.array([(x == c).all(axis=1).sum() for c in configs])
    assert counts.sum() == n
    pvalue = st.chisquare(counts, n * prob).pvalue
    assert pvalue > 1e-3, pvalue
