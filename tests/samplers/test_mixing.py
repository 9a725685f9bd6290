"""The autocorrelations that choose sweep counts and judge MCMLE's reference chains:
unbiased at every lag on AR(1) series of the pilot's size, where the uncorrected pooled
estimate is pulled down by about τ / records at long lags (0.047 at ρ = 0.5), and a lag-one
correction applied at every lag is off by up to 0.09 at ρ = 0.8."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesgen.samplers.mixing import NUM_CHAINS, NUM_RECORDS, correlation_se, lag_correlations


def _ar1(rng, rho, replicates):
    """``replicates`` stationary AR(1) series of shape (records, chains, 1)."""
    x = np.empty((replicates, NUM_RECORDS, NUM_CHAINS, 1))
    x[:, 0] = rng.normal(size=(replicates, NUM_CHAINS, 1)) / np.sqrt(1 - rho**2)
    for t in range(1, NUM_RECORDS):
        x[:, t] = rho * x[:, t - 1] + rng.normal(size=(replicates, NUM_CHAINS, 1))
    return x


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_lag_correlations_are_unbiased_at_every_lag_of_an_ar1_series(rho):
    replicates, max_lag = 300, 16
    series = _ar1(np.random.default_rng(1), rho, replicates)
    est = np.asarray(jax.vmap(lambda s: lag_correlations(s, max_lag))(jnp.asarray(series)))
    lags = np.arange(1, max_lag + 1)
    truth = rho**lags
    se = est.std(0, ddof=1) / np.sqrt(replicates)
    # Kendall's correction is first order in 1/records; what it leaves is about k τ /
    # records² (τ = (1 + ρ)/(1 - ρ): 0.004 at lag 16 for white noise)
    neglected = lags * (1 + rho) / (1 - rho) / NUM_RECORDS**2
    assert (np.abs(est.mean(0) - truth) < 4 * se + neglected).all(), est.mean(0) - truth
    # far beyond the correlation time the spread is at most Bartlett's standard error, the
    # allowance MCMLE's check makes (measured 0.023 against 0.029 at rho = 0.5)
    spread = est.std(0)[-4:].mean()
    assert 0.6 * float(correlation_se(rho)) < spread < 1.05 * float(correlation_se(rho))


def test_lag_correlations_flag_a_frozen_coordinate():
    series = np.random.default_rng(2).normal(size=(NUM_RECORDS, NUM_CHAINS, 2))
    series[:, :, 1] = 3.0  # never moved
    assert (np.asarray(lag_correlations(jnp.asarray(series), 4)) == 1.0).all()
