"""The population exchange algorithm (``Exchange(population=True)``, Bergm's ``bergm``):
exact on the Ising 4 x 4 against the posterior by quadrature (from the enumerated density
of states, conftest), its proposal moving a member along the difference of two others, one
state for the whole population, and the errors of a population too small to propose."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import MCMC

import bayesgen as bg
from bayesgen._compiled import cached
from bayesgen.bayesian import exchange

MODEL = bg.models.Ising((4, 4))
POPULATION = ("exchange", {"population": True})


@pytest.fixture(scope="module")
def data(ising4_data):
    return ising4_data


def test_population_exchange_matches_the_quadrature_posterior(data, grid_posterior):
    """Means within 4 Monte Carlo standard errors (sd / sqrt(bulk ESS)) and sds within 4
    of the sd's own Monte Carlo standard error (ArviZ's ``mcse(method="sd")``; about 2.5%
    of the sd here). The ESS treats the K chains as independent, which they are only at
    stationarity: 20,000 draws of 4 and of 6 members on these data (three seeds each) had
    means within 0.013 posterior sd of the quadrature and sds within 1.4%, so the MCSEs
    are not too optimistic at these lengths."""
    mean, sd = grid_posterior
    result = bg.sample_posterior(
        MODEL, data, POPULATION, key=jax.random.key(7), num_warmup=500, num_samples=1000
    )
    mcse_sd = az.mcse(az.from_dict({"posterior": result.samples}), method="sd")
    for j, name in enumerate(("beta", "h")):
        draws, diag = result.samples[name], result.diagnostics()[name]
        assert draws.shape == (4, 1000)  # the population's members are the chains
        mcse = draws.std() / np.sqrt(diag["ess_bulk"])
        assert abs(draws.mean() - mean[j]) < 4 * mcse, (name, draws.mean(), mean[j], mcse)
        assert abs(draws.std() - sd[j]) < 4 * float(mcse_sd[name]), (name, draws.std(), sd[j])
        assert diag["r_hat"] < 1.01, (name, diag)
    assert result.ok, result.why
    assert result.normalizer.startswith("cancelled: exact auxiliary draw")
    sampler = str(result.info["sampler"])
    assert sampler.startswith("population MCMC of 4 chains, differential-evolution proposals")
    assert int(result.info["population"]) == 4
    np.testing.assert_allclose(float(result.info["gamma"]), 2.38 / 2.0)  # 2.38 / sqrt(2 d)
    assert result.to_arviz().attrs["sampler"] == sampler


def test_the_proposal_moves_a_member_along_the_difference_of_two_others():
    """Without jitter θ'_h - θ_h is γ (θ_i - θ_j) for two distinct members other than h,
    every such ordered pair about equally often; the jitter is N(0, jitter² s²) with s the
    others' sd; and the step does not depend on θ_h (moving θ_h moves θ'_h by as much)."""
    flat = jax.random.normal(jax.random.key(0), (5, 3), jnp.float64) * jnp.array([1.0, 2.0, 0.5])
    h, gamma, draws = 2, 0.7, 6000
    keys = jax.random.split(jax.random.key(1), draws)
    propose = jax.jit(
        jax.vmap(exchange.differential_evolution_proposal, (0, None, None, None, None)),
        static_argnums=(3, 4),
    )
    proposal, (i, j) = propose(keys, flat, h, gamma, 0.0)
    i, j = np.asarray(i), np.asarray(j)
    assert np.all(i != j) and np.all(i != h) and np.all(j != h)
    np.testing.assert_allclose(proposal - flat[h], gamma * (flat[i] - flat[j]), atol=1e-12)
    pairs = np.zeros((5, 5))
    np.add.at(pairs, (i, j), 1)
    # 12 ordered pairs, each drawn with probability 1/12: counts 500 +- 22 (binomial sd)
    others = [k for k in range(5) if k != h]
    counts = [pairs[a, b] for a in others for b in others if a != b]
    assert len(counts) == 12 and max(abs(c - draws / 12) for c in counts) < 4 * 22

    jitter = 0.3
    proposal, (i, j) = propose(keys, flat, h, gamma, jitter)
    residual = np.asarray(proposal - flat[h] - gamma * (flat[np.asarray(i)] - flat[np.asarray(j)]))
    s = np.std(np.delete(np.asarray(flat), h, axis=0), axis=0, ddof=1)
    z = residual / (jitter * s)
    # standard normal per coordinate: mean within 4 / sqrt(n), sd within 4 / sqrt(2 n)
    assert np.all(np.abs(z.mean(0)) < 4 / np.sqrt(draws))
    assert np.all(np.abs(z.std(0) - 1) < 4 / np.sqrt(2 * draws))
    moved = flat.at[h].add(jnp.array([0.3, -1.0, 2.0]))
    shifted, _ = propose(keys, moved, h, gamma, jitter)
    np.testing.assert_allclose(shifted - proposal, np.broadcast_to(moved[h] - flat[h], (draws, 3)))


def test_the_population_is_one_state_whose_members_depend_on_each_other(data):
    """One counter and one key for the population, the members along a leading axis; a
    sweep moves each member from the others' states, so moving one member's start changes
    where the others go (independent chains would not notice)."""
    method = exchange.Exchange(population=True)
    kernel = method.kernel(MODEL)
    assert kernel.is_ensemble_kernel
    extras = method.prepare(MODEL, data, jax.random.key(0))
    state = kernel.init(jax.random.split(jax.random.key(1), 4), 10, None, (data,), extras)
    assert state.i.shape == () and jax.random.key_data(state.rng_key).shape == (2,)
    assert state.z["beta"].shape == (4,) and state.log_target.shape == (4,)
    z = {**state.z, "beta": state.z["beta"].at[0].add(0.02)}
    other = exchange.population_init(MODEL, data, z, state.rng_key)

    @jax.jit
    def run(state):  # 10 draws of 4 sweeps: the overdispersed start accepts little at first
        return jax.lax.fori_loop(0, 10, lambda _, s: kernel.sample(s, (data,), extras), state)

    a, b = run(state), run(other)
    assert a.i == 10 * kernel.thinning and a.accept_prob.shape == (4,)
    assert np.all(np.asarray(a.z["beta"][1:]) != np.asarray(state.z["beta"][1:]))
    for k in ("beta", "h"):
        assert np.all(np.asarray(a.z[k][1:]) != np.asarray(b.z[k][1:])), (k, a.z, b.z)


@pytest.mark.slow
def test_population_runs_under_numpyro_mcmc_and_in_replicate_studies(data):
    """The kernel is a NumPyro ensemble kernel (``MCMC(..., chain_method="vectorized")``
    hands it the batch of keys); the driver reuses its compiled loop for new data of the
    same shape; replicates run the population per replicate."""
    method = exchange.Exchange(population=True)
    kernel = exchange.PopulationExchangeKernel(MODEL, method)
    extras = method.prepare(MODEL, data, jax.random.key(0))
    mcmc = MCMC(
        kernel,
        num_warmup=50,
        num_samples=100,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), data, **extras)
    assert mcmc.get_samples(group_by_chain=True)["beta"].shape == (4, 100)

    kw = {"num_warmup": 50, "num_samples": 50, "num_chains": 5}
    bg.sample_posterior(MODEL, data, POPULATION, **kw)
    size = len(cached(MODEL))
    other = MODEL.sample(jax.random.key(9), {"beta": 0.3, "h": 0.05}, 500)
    result = bg.sample_posterior(MODEL, other, POPULATION, **kw)
    assert len(cached(MODEL)) == size and result.timing["compile_s"] < 0.5
    assert result.samples["h"].shape == (5, 50)
    reps = bg.bayesian.sample_replicates(MODEL, np.stack([data, other]), POPULATION, **kw)
    assert reps.samples["beta"].shape == (2, 5, 50) and reps.finite.all()


def test_a_population_needs_three_chains_updated_together(data):
    with pytest.raises(bg.MethodError, match=r"num_chains >= 3 .*got num_chains=2"):
        bg.sample_posterior(MODEL, data, POPULATION, num_chains=2)
    with pytest.raises(bg.MethodError, match="population=False for independent chains"):
        bg.bayesian.sample_replicates(MODEL, data[None], POPULATION, num_chains=1)
    with pytest.raises(bg.MethodError, match="chain_method='vectorized'"):
        bg.sample_posterior(MODEL, data, POPULATION, chain_method="sequential")
    kernel = exchange.PopulationExchangeKernel(MODEL, exchange.Exchange(population=True))
    with pytest.raises(bg.MethodError, match="num_chains >= 3"):
        MCMC(kernel, num_warmup=1, num_samples=1, num_chains=2, chain_method="vectorized").run(
            jax.random.key(0), data
        )
    with pytest.raises(bg.MethodError, match="chain_method='vectorized'"):
        MCMC(kernel, num_warmup=1, num_samples=1, progress_bar=False).run(jax.random.key(0), data)
    with pytest.raises(bg.MethodError, match="population=True has no walk"):
        bg.sample_posterior(
            MODEL, data, ("exchange", {"population": True, "independence_prob": 0.5})
        )
    for bad in ({"gamma": 0.0}, {"jitter": 0.0}):
        with pytest.raises(bg.MethodError, match="a positive number"):
            bg.sample_posterior(MODEL, data, ("exchange", {"population": True, **bad}))
