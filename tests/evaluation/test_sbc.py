"""Simulation-based calibration (Talts et al. 2018): samplers of the exact posterior pass
the rank-uniformity test; approximate exchange with a single Gibbs sweep per auxiliary
draw at strong coupling is caught."""

import json

import jax
import numpy as np
import numpyro.distributions as dist
import pytest

import bayesgen as bg
from bayesgen.evaluation import SBC_SCHEMA

WEAK = {"beta": dist.Normal(0.3, 0.1), "h": dist.Normal(0.0, 0.1)}
STRONG = {"beta": dist.Normal(0.5, 0.05), "h": dist.Normal(0.0, 0.2)}
UNIFORM_SD = 12**-0.5  # the sd of a uniform PIT


def pit_sd_se(replicates: int) -> float:
    """Standard error of the sample sd of ``replicates`` uniform values:
    sqrt((μ4 - σ⁴) / (4 σ² R)) with σ² = 1/12 and μ4 = 1/80."""
    return float(np.sqrt((1 / 80 - 1 / 144) / (4 / 12 * replicates)))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nuts", "exchange"])
def test_exact_posterior_samplers_are_calibrated(method, tmp_path):
    model = bg.models.Ising((4, 4)).with_prior(WEAK)
    result = bg.sbc(
        model,
        method,
        n=100,
        replicates=200,
        key=jax.random.key(21),
        num_warmup=300 if method == "nuts" else 75,  # exchange: 4 steps per draw (2 d)
        num_samples=300 if method == "nuts" else 75,
    )
    assert result.ok.all() and set(result.ranks) == {"beta", "h"}
    for ranks in result.ranks.values():
        assert ranks.shape == (200,) and 0 <= ranks.min() and ranks.max() <= result.num_ranks
    # Chi-square on 10 bins at family-wise level 1%: a posterior 30% too narrow or too
    # wide, or shifted by 0.3 sd, fails it at 200 simulations.
    assert result.passed, result.table
    assert (np.abs(result.table["pit sd"] - UNIFORM_SD) < 4 * pit_sd_se(200)).all()
    if method == "nuts":  # the outputs, once
        result.to_json(tmp_path / "sbc.json")
        doc = json.loads((tmp_path / "sbc.json").read_text())
        assert doc["schema"] == SBC_SCHEMA and doc["passed"] and len(doc["ranks"]["h"]) == 200
        assert "prior_sbc" in result.to_arviz().children
        result.plot(tmp_path / "sbc.png")
        assert (tmp_path / "sbc.png").stat().st_size > 0


@pytest.mark.slow
def test_one_gibbs_sweep_exchange_is_miscalibrated_at_strong_coupling():
    model = bg.models.Ising((4, 4)).with_prior(STRONG)
    # 75 + 75 draws of 4 exchange steps each (2 d), 39 ranks from each replicate's 300
    settings = dict(n=200, replicates=200, key=jax.random.key(7), num_warmup=75, num_samples=75)
    wrong = bg.sbc(model, bg.bayesian.Exchange(auxiliary="mcmc", num_sweeps=1), **settings)
    assert not wrong.passed
    beta = wrong.table.set_index("parameter").loc["beta"]
    # One sweep from the data barely moves it: the auxiliary statistics lag, the chain
    # targets roughly a tempered likelihood, and the posterior is too wide (PIT sd low).
    # beta itself fails the chi-square at the family-wise level (Bonferroni over 2).
    assert beta["p"] < wrong.alpha / 2 and beta["pit sd"] < UNIFORM_SD - 2 * pit_sd_se(200)


def test_bad_sbc_settings_are_package_errors():
    model = bg.models.Ising((3, 3))
    with pytest.raises(bg.MethodError, match="multiple of num_bins"):
        bg.sbc(model, "nuts", n=50, replicates=20, num_ranks=40)
    with pytest.raises(bg.MethodError, match="exceeds"):
        bg.sbc(model, "nuts", n=50, replicates=20, num_samples=10, num_chains=2, num_ranks=39)
    with pytest.raises(bg.MethodError, match="unknown Bayesian method"):
        bg.sbc(model, "exact_mle", n=50, replicates=20)
