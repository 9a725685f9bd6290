"""One large lattice (n = 1) of the zero-field Ising model, against Kaufman's exact
likelihood: the case where Z is out of reach for every method but the closed form, and where
a sandwich over one datum is exactly 0.

The truth here is the exact MLE and the exact posterior of the observed lattice (Kaufman's
log Z, computed another way than the methods under test); the lattice itself is a Gibbs
draw at β = 0.42, near the critical coupling 0.4407, where single-site kernels are slowest.
"""

import jax
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import bayesgen as bg
from bayesgen.normalizers import ising_torus_log_z_kaufman

BETA = 0.42


def _lattice(side, seed=0):
    model = bg.models.Ising((side, side), field=False)
    x = model.sample(jax.random.key(seed), {"beta": BETA}, 1, num_sweeps=3000)
    return model, x


def _kaufman_mle(x):
    """Brent's bounded search on Kaufman's log-likelihood (the normaliser module alone, none
    of the model's code), and the observed information by central differences of it."""
    shape = x.shape[1:]
    bonds = float(bg.models.Ising.sufficient_statistics(x[0])[0])

    def log_z(b):
        return float(ising_torus_log_z_kaufman(b, shape))

    res = minimize_scalar(
        lambda b: log_z(b) - b * bonds,
        bounds=(0.05, 1.5),
        method="bounded",
        options={"xatol": 1e-10},
    )
    h = 1e-4
    info = (log_z(res.x + h) - 2 * log_z(res.x) + log_z(res.x - h)) / h**2
    return res.x, 1 / np.sqrt(info)


@pytest.mark.parametrize("side", [32, 64])
def test_exact_mle_of_one_lattice_is_kaufmans_maximum_with_its_information(side):
    model, x = _lattice(side)
    beta_hat, se = _kaufman_mle(x)
    fit = bg.fit(model, x, "exact_mle")
    assert fit.ok, fit.why
    assert abs(float(fit.params["beta"]) - beta_hat) < 1e-6
    # n = 1: the sandwich's meat is 0, so the default is the observed information, which
    # finite differences of the closed form reproduce to their own error (~h² / 12 relative)
    assert fit.uncertainty == "observed information"
    np.testing.assert_allclose(fit.stderr["beta"], se, rtol=1e-4)
    sandwich = bg.fit(model, x, "exact_mle", uncertainty="sandwich")
    assert sandwich.stderr["beta"] == 0 and not sandwich.ok
    assert "zero-width" in sandwich.why


@pytest.mark.slow
def test_every_estimator_on_one_lattice_is_within_three_se_of_the_exact_mle_or_flagged():
    model, x = _lattice(32)
    beta_hat, _ = _kaufman_mle(x)
    # one image against its noise: flagged whatever its errors (none computed here)
    nce = bg.fit(model, x, "nce", key=jax.random.key(1), uncertainty="none")
    assert not nce.ok and "n = 1 data" in nce.why
    for method in ("pseudo_likelihood", "mcmle", "contrastive_divergence", "conditional_nce"):
        fit = bg.fit(model, x, method, key=jax.random.key(1))
        se = float(fit.stderr["beta"])
        assert fit.ok, f"{method}: {fit.why}"
        assert se > 0
        assert abs(float(fit.params["beta"]) - beta_hat) < 3 * se, method
        how = "observed information" if method == "mcmle" else "parametric bootstrap (100 of 100"
        assert fit.uncertainty.startswith(how)


@pytest.mark.slow
def test_exact_posterior_exchange_and_pseudo_posterior_of_one_lattice_agree():
    model, x = _lattice(32)
    nuts = bg.sample_posterior(model, x, "nuts", key=jax.random.key(2))
    exchange = bg.sample_posterior(model, x, "exchange", key=jax.random.key(3))
    for post in (nuts, exchange):  # at their defaults: 1000 + 1000 draws, 4 chains
        assert post.ok, f"{post.method}: {post.why}"
        assert post.diagnostics()["beta"]["r_hat"] < 1.01
    mean, sd = float(nuts.mean()["beta"]), float(np.std(nuts.samples["beta"]))
    assert abs(float(exchange.mean()["beta"]) - mean) < 0.5 * sd
    assert abs(float(np.std(exchange.samples["beta"])) / sd - 1) < 0.1
    assert int(exchange.info["num_sweeps"]) >= 80  # a fixed 20 sweeps widened it by 23%
    assert int(exchange.info["thinning"]) == 2
    # Bouranis et al.'s adjustment, written for this case: the pseudo-posterior's sd
    pseudo = bg.sample_posterior(model, x, "pseudo_posterior", key=jax.random.key(4))
    assert pseudo.ok, pseudo.why
    assert abs(float(np.std(pseudo.samples["beta"])) / sd - 1) < 0.2
    assert abs(float(pseudo.mean()["beta"]) - mean) < 0.5 * sd
