"""Models that declare ``exponential_family`` satisfy its identity, and their drawn summed
statistics are those of their draws: exchange trusts both (it sums statistics instead of
log f over the data and the auxiliary data)."""

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.models.boltzmann import petersen_edges

MODELS = {
    "ising": bg.models.Ising((4, 4)),
    "ising_zero_field": bg.models.Ising((4, 4), field=False),
    "ising_transfer_matrix": bg.models.Ising((3, 8)),
    "boltzmann": bg.models.BoltzmannMachine(10, petersen_edges()),
    "cmp": bg.models.ConwayMaxwellPoisson(),
    "ergm": bg.models.ERGM(8, ("edges", "triangles", "kstar(2)", "gwesp(0.5)")),
}


def _prior_draw(model, key):
    return {
        name: d.sample(jax.random.fold_in(key, j))
        for j, (name, d) in enumerate(model.prior.items())
    }


@pytest.mark.parametrize("name", MODELS)
def test_log_f_differences_are_natural_parameter_differences_times_statistics(name):
    """log f_θ(x) - log f_θ'(x) = (η(θ) - η(θ')) · T(x) on 50 draws at 4 prior draws each."""
    model = MODELS[name]
    assert model.exponential_family
    x = model.sample(jax.random.key(0), model.default_truth, 50)
    stats = jax.vmap(model.statistics)(x)
    base = model.check_params(model.default_truth)
    for i in range(4):
        theta = model.check_params(_prior_draw(model, jax.random.key(10 + i)))
        lhs = model.log_f_batch(theta, x) - model.log_f_batch(base, x)
        eta = model.natural_parameters(theta) - model.natural_parameters(base)
        assert eta.shape == (len(model.statistic_names),)
        np.testing.assert_allclose(lhs, stats @ eta, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["ising", "ising_zero_field", "boltzmann"])
def test_sampled_statistics_are_the_statistics_of_the_samples(name):
    """Under jit, with the same key: Σ T of ``sample``'s draws (the overrides, which skip
    the draws; the other models use the default, Σ T of ``sample`` itself)."""
    model = MODELS[name]
    params = model.check_params(model.default_truth)
    n = 300

    @jax.jit
    def both(key):
        drawn = jnp.sum(jax.vmap(model.statistics)(model.sample(key, params, n)), 0)
        return drawn, model.sample_statistics(key, params, n)

    for seed in range(3):
        drawn, summed = both(jax.random.key(seed))
        np.testing.assert_allclose(summed, drawn, rtol=1e-12)


def test_models_that_are_not_exponential_families_say_so():
    model = bg.models.RBM(4, 2)
    assert not model.exponential_family
    with pytest.raises(NotImplementedError, match="not declared an exponential family"):
        model.natural_parameters(model.default_truth)


@pytest.mark.parametrize(
    "name, method",
    [
        ("ising", bg.bayesian.Exchange()),
        ("boltzmann", bg.bayesian.Exchange()),
        ("ising_8x8_gibbs", bg.bayesian.Exchange(auxiliary="mcmc", num_sweeps=2)),
    ],
)
def test_exchange_on_summed_statistics_takes_the_steps_of_summed_log_f(name, method):
    """20 exchange steps of 2 chains, with the declaration and without it (every log f
    summed), from the same state and keys: the same chain to rounding."""
    from bayesgen.bayesian import exchange
    from bayesgen.model import unconstrain

    model = bg.models.Ising((8, 8)) if name == "ising_8x8_gibbs" else MODELS[name]
    plain = copy.copy(model)
    plain.exponential_family = False
    data = model.sample(jax.random.key(4), model.default_truth, 50)
    z = unconstrain(model, model.default_truth)
    keys = jax.random.split(jax.random.key(5), 2)

    def run(m):
        state = jax.vmap(lambda k: exchange.init(m, data, z, 10, k))(keys)

        def body(s, _):
            s = jax.vmap(lambda s: exchange.step(m, method, data, s))(s)
            return s, (s.accept_prob, s.z)

        return jax.jit(lambda s: jax.lax.scan(body, s, None, length=20)[1])(state)

    (p_fast, z_fast), (p_slow, z_slow) = run(model), run(plain)
    np.testing.assert_allclose(p_fast, p_slow, rtol=1e-9, atol=1e-12)
    for k in z_fast:
        np.testing.assert_allclose(z_fast[k], z_slow[k], rtol=1e-10, atol=1e-12)
    assert 0 < float(np.mean(p_fast)) < 1  # the chain moved and rejected
