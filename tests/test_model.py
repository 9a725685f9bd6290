"""The public model API: bg.model, capabilities from the support, checked definitions.

Ground truth is brute-force enumeration in NumPy and scipy's optimiser on the enumerated
likelihood; every bad definition is a ModelError at construction that names the fix.
"""

import gc
import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
from numpyro.distributions import constraints

import bayesgen as bg
from bayesgen.models.boltzmann import petersen_edges
from bayesgen.normalizers.enumeration import enumerate_log_normalizer

BETA = bg.ParamSpec("beta", (), constraints.real, dist.Normal(0.0, 1.0))


# The Potts model of the README, q = 3 on a 3 x 3 torus: the whole definition.
def potts_log_f(p, x):
    same = (x == jnp.roll(x, 1, 0)).sum() + (x == jnp.roll(x, 1, 1)).sum()
    return p["beta"] * same


def make_potts(shape=(3, 3)):
    return bg.model(
        potts_log_f, params=[BETA], support=bg.Categorical(shape, num_values=3), name="potts"
    )


def _potts_bonds_table(shape):
    """Every configuration's number of equal neighbour pairs, by NumPy brute force."""
    configs = np.array(list(itertools.product(range(3), repeat=int(np.prod(shape)))))
    x = configs.reshape(-1, *shape)
    return (x == np.roll(x, 1, 1)).sum((1, 2)) + (x == np.roll(x, 1, 2)).sum((1, 2))


def test_potts_exact_log_z_and_mle_against_brute_force_and_scipy():
    potts = make_potts()
    assert potts.normalizer == "exact: enumeration of 19683 configurations"
    assert potts.has_exact_sampler
    bonds = _potts_bonds_table((3, 3))
    for beta in (-0.4, 0.25, 0.9):
        want = scipy.special.logsumexp(beta * bonds)
        assert abs(float(potts.log_normalizer({"beta": beta})) - want) < 1e-10
    data = potts.sample(jax.random.key(0), {"beta": 0.5}, 300)
    fit = bg.fit(potts, data, method="exact_mle", key=jax.random.key(1))
    x = np.asarray(data)
    data_bonds = ((x == np.roll(x, 1, 1)).sum() + (x == np.roll(x, 1, 2)).sum()) / len(x)

    def nll(b):
        return -(b * data_bonds - scipy.special.logsumexp(b * bonds))

    ref = scipy.optimize.minimize_scalar(
        nll, bounds=(-2, 2), method="bounded", options={"xatol": 1e-10}
    )
    assert abs(float(fit.params["beta"]) - ref.x) < 1e-5


@pytest.mark.slow
def test_compare_runs_every_applicable_method_on_potts():
    """Both sides on the user's Potts model: every method that applies to a categorical
    support runs, and each lands within 4 of its own standard error of the truth."""
    potts = make_potts()
    truth = {"beta": 0.4}
    data = potts.sample(jax.random.key(2), truth, 200)
    cmp = bg.compare(
        potts,
        data,
        truth=truth,
        key=jax.random.key(3),
        num_warmup=300,
        num_samples=300,
        num_chains=2,
        num_bootstrap=20,
    )
    ran = set(cmp.table["method"])
    expected = {
        "exact_mle", "pseudo_likelihood", "ratio_matching", "contrastive_divergence",
        "mcmle", "nce", "conditional_nce", "nuts", "exchange", "generalized_bayes",
        "pseudo_posterior",
    }  # fmt: skip
    assert expected <= ran, (ran, cmp.skipped)
    assert not any("failed" in why for why in cmp.skipped.values()), cmp.skipped
    for _, row in cmp.table.iterrows():
        se = (row["beta hi"] - row["beta lo"]) / (2 * 1.959964)
        assert se > 0, row["method"]
        assert abs(row["beta"] - truth["beta"]) < 4 * se, (row["method"], row["beta"], se)


def test_ten_spin_boltzmann_gets_enumeration_by_itself():
    edges = np.asarray(petersen_edges())
    i, j = edges[:, 0], edges[:, 1]

    def log_f(p, s):
        return p["J"] @ (s[i] * s[j]) + p["h"] @ s

    vec = constraints.real_vector
    params = [
        bg.ParamSpec("J", (15,), vec, dist.Normal(0, 1).expand([15]).to_event(1)),
        bg.ParamSpec("h", (10,), vec, dist.Normal(0, 1).expand([10]).to_event(1)),
    ]
    bm = bg.model(log_f, params=params, support=bg.Spins((10,)), name="bm10")
    assert bm.normalizer == "exact: enumeration of 1024 configurations"
    theta = {"J": 0.3 * np.sin(np.arange(15.0)), "h": 0.2 * np.cos(np.arange(10.0))}
    s = np.array(list(itertools.product((-1.0, 1.0), repeat=10)))
    want = scipy.special.logsumexp(s[:, i] * s[:, j] @ theta["J"] + s @ theta["h"])
    assert abs(float(bm.log_normalizer(theta)) - want) < 1e-10
    # exact draws: the mean spin matches its exact expectation within 4 standard errors
    draws = np.asarray(bm.sample(jax.random.key(4), theta, 4000))
    w = np.exp(s[:, i] * s[:, j] @ theta["J"] + s @ theta["h"] - want)
    mean, var = w @ s, w @ s**2 - (w @ s) ** 2
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * np.sqrt(var / 4000))


def test_categorical_gibbs_leaves_the_exact_law_invariant():
    """A chi-square test of the generic q-value Gibbs kernel against enumeration (2 x 2
    Potts, 81 states) from a single start: fails if the kernel's conditionals are off."""
    potts = make_potts((2, 2))
    beta = 0.6
    bonds = _potts_bonds_table((2, 2))
    p = np.exp(beta * bonds - scipy.special.logsumexp(beta * bonds))
    start = jnp.zeros((6000, 2, 2))
    x = potts.mcmc_run(jax.random.key(5), {"beta": jnp.asarray(beta)}, start, 30)
    index = np.asarray(x).reshape(len(x), -1) @ (3 ** np.arange(4))[::-1]
    counts = np.bincount(index.astype(int), minlength=81)
    chi2 = ((counts - 6000 * p) ** 2 / (6000 * p)).sum()
    assert scipy.stats.chi2.sf(chi2, 80) > 1e-3


def test_enumeration_reverse_mode_equals_forward_and_pads_uneven_chunks():
    def log_f(p, x):
        return p["w"] @ x + p["v"] * (x[0] == x[-1])

    params = {"w": jnp.linspace(-0.5, 0.7, 5), "v": jnp.asarray(0.3)}
    values = (0.0, 1.0, 2.0)

    def lz(p, mode, chunk):
        return enumerate_log_normalizer(log_f, p, 5, values=values, chunk_size=chunk, mode=mode)

    configs = np.array(list(itertools.product(values, repeat=5)))
    want = scipy.special.logsumexp(
        configs @ np.asarray(params["w"]) + 0.3 * (configs[:, 0] == configs[:, -1])
    )
    assert abs(float(lz(params, "auto", 100)) - want) < 1e-10  # 243 = 2 chunks + 43
    g_fwd = jax.grad(lz)(params, "forward", 64)
    g_rev = jax.grad(lz)(params, "reverse", 64)
    for k in params:
        np.testing.assert_allclose(g_fwd[k], g_rev[k], rtol=1e-10, atol=1e-12)


# -- bad definitions: a ModelError where the model is made, naming the fix ------------
class _NoSupport(bg.Model):
    params_spec = (BETA,)

    def log_f(self, params, x):
        return params["beta"] * x.sum()


def test_missing_support_names_the_fix():
    with pytest.raises(bg.ModelError, match=r"no support.*bg.Spins"):
        _NoSupport()


def test_subclass_needs_no_super_init_and_gets_its_capabilities():
    class Chain(bg.Model):
        def __init__(self, n):  # no super().__init__()
            self.support = bg.Spins((n,))
            self.params_spec = (BETA,)

        def log_f(self, params, x):
            return params["beta"] * jnp.sum(x[1:] * x[:-1])

    m = Chain(6).with_prior({"beta": dist.Normal(0.0, 2.0)})
    assert m.prior["beta"].scale == 2.0 and m.normalizer.startswith("exact: enumeration")
    # the open chain's log Z: 2 (2 cosh beta)^(n - 1)
    assert abs(float(m.log_normalizer({"beta": 0.7})) - np.log(2 * (2 * np.cosh(0.7)) ** 5)) < 1e-12


@pytest.mark.parametrize(
    "spec, match",
    [
        (bg.ParamSpec("w", (3,), constraints.real_vector, dist.Normal(0, 1)), r"\(\).*expand"),
        (bg.ParamSpec("s", (), constraints.positive, dist.Normal(0.0, 1.0)), "outside.*HalfNormal"),
        (bg.ParamSpec("s", (), constraints.positive, 1.0), "numpyro distribution"),
        (("beta", (), constraints.real), "not bg.ParamSpec"),
    ],
)  # fmt: skip
def test_bad_priors_and_specs_name_the_fix(spec, match):
    with pytest.raises(bg.ModelError, match=match):
        bg.model(lambda p, x: x.sum(), params=[spec], support=bg.Spins((3,)))


def test_log_f_that_is_not_a_scalar_or_fails_is_reported():
    with pytest.raises(bg.ModelError, match=r"must return a scalar.*sum over sites"):
        bg.model(lambda p, x: p["beta"] * x, params=[BETA], support=bg.Spins((3,)))
    with pytest.raises(bg.ModelError, match=r"log_f failed.*KeyError"):
        bg.model(lambda p, x: p["b"] * x.sum(), params=[BETA], support=bg.Spins((3,)))

    class NoLogF(bg.Model):
        support = bg.Spins((2,))
        params_spec = (BETA,)

    with pytest.raises(bg.ModelError, match=r"defines no log_f"):
        NoLogF()


def test_symmetric_matrix_parameter_warns_it_is_unidentified():
    matrix = constraints.independent(constraints.real, 2)
    spec = bg.ParamSpec("W", (4, 4), matrix, dist.Normal(jnp.zeros((4, 4)), 1).to_event(2))
    with pytest.warns(UserWarning, match=r"symmetric part.*6 entries above the diagonal"):
        bg.model(lambda p, x: x @ p["W"] @ x, params=[spec], support=bg.Spins((4,)))
    with warnings.catch_warnings():  # an asymmetric use is identified: no warning
        warnings.simplefilter("error")
        bg.model(lambda p, x: x[:2] @ p["W"][:2, 2:] @ x[2:], params=[spec], support=bg.Spins((4,)))


def test_old_private_hooks_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match=r"_log_unnormalized is deprecated.*log_f"):

        class Old(bg.Model):
            support = bg.Binary((3,))
            params_spec = (BETA,)

            def _log_unnormalized(self, params, x):
                return params["beta"] * x.sum()

    assert abs(float(Old().log_normalizer({"beta": 0.0})) - 3 * np.log(2)) < 1e-12


def test_bootstrap_without_a_sampler_says_how_to_get_one():
    counts = bg.model(
        lambda p, x: p["beta"] * x.sum() - jax.scipy.special.gammaln(x + 1).sum(),
        params=[BETA],
        support=bg.Counts((2,)),
    )
    assert not counts.has_sampler
    data = jnp.asarray([[1.0, 2.0], [0.0, 1.0], [3.0, 1.0]])
    with pytest.raises(bg.MethodError, match=r"no sampler.*sample="):
        bg.fit(
            counts, data, method="discrete_fisher", uncertainty="bootstrap", key=jax.random.key(0)
        )


def test_categorical_support_validates_with_a_hint():
    potts = make_potts()
    with pytest.raises(bg.DataError, match=r"not a category in 0..2.*numbered from 1"):
        potts.validate(np.full((1, 3, 3), 3.0))


def test_compare_keeps_finished_rows_when_a_method_fails():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Broken(bg.frequentist.PseudoLikelihood):
        name = "broken"

        def loss(self, model, params, batch, key, state=()):
            raise RuntimeError("this estimator breaks on purpose")

    potts = make_potts()
    data = potts.sample(jax.random.key(6), {"beta": 0.3}, 50)
    with pytest.warns(UserWarning, match=r"broken failed"):
        cmp = bg.compare(
            potts, data, methods=["pseudo_likelihood", Broken()], key=jax.random.key(7)
        )
    assert list(cmp.table["method"]) == ["pseudo_likelihood"]
    assert "breaks on purpose" in cmp.skipped["broken"]


@pytest.mark.slow
def test_fitted_models_are_freed_with_their_compiled_code():
    """No module-level cache keeps a model alive: models made, fitted and sampled in a loop
    are all collected (so memory does not grow with the number of models). NUTS is left out:
    after a NUTS run something in JAX's bounded dispatch cache (``_infer_params_cached``)
    still holds the model until it is evicted or ``jax.clear_caches()`` runs."""
    import weakref

    refs = []
    for i in range(3):
        potts = make_potts((2, 2))
        data = potts.sample(jax.random.key(i), {"beta": 0.3}, 40)
        bg.fit(potts, data, method="pseudo_likelihood")
        kw = {"num_warmup": 30, "num_samples": 30, "num_chains": 1}
        bg.sample_posterior(potts, data, method="exchange", key=jax.random.key(i), **kw)
        refs.append(weakref.ref(potts))
        del potts, data
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_one_parametrization_serves_both_sides():
    """``model.parametrization()`` maps onto each parameter's constraint (fits),
    ``parametrization("prior")`` onto the prior's support (posteriors): with a Uniform(0, 2)
    prior on a positive parameter the two differ, each round-trips, and the prior density of
    the unconstrained coordinate (log π + log |Jacobian|) integrates to 1 by quadrature."""
    spec = bg.ParamSpec("s", (), constraints.positive, dist.Gamma(2.0, 1.0))
    m = bg.model(
        lambda p, x: -p["s"] * x**2,
        params=[spec],
        support=bg.Reals(
            (),
        ),
    )
    m = m.with_prior({"s": dist.Uniform(0.0, 2.0)})
    fits, posts = m.parametrization(), m.parametrization("prior")
    u = jnp.linspace(-30.0, 30.0, 20001)
    assert float(jnp.min(fits.constrain({"s": u})["s"])) >= 0.0
    assert float(jnp.max(fits.constrain({"s": u})["s"])) > 2.0  # the constraint: all of (0, ∞)
    assert float(jnp.max(posts.constrain({"s": u})["s"])) <= 2.0  # the prior's support
    for coords in (fits, posts):
        theta = {"s": jnp.array([0.3, 1.7])}
        back = coords.constrain(coords.unconstrain(theta))["s"]
        np.testing.assert_allclose(back, theta["s"], rtol=1e-12)
    density = jnp.exp(jax.vmap(lambda v: posts.log_prior({"s": v}))(u))
    assert abs(float(jnp.trapezoid(density, u)) - 1.0) < 1e-6
    origin = posts.origin(jnp.float64)["s"]
    assert float(origin) == 0.0 and float(posts.constrain({"s": origin})["s"]) == 1.0


def test_replicate_datasets_are_validated_in_one_pass_with_clear_errors():
    model = bg.models.Ising((2, 2))
    good = jnp.ones((3, 5, 2, 2))
    assert model.validate_datasets(good).shape == (3, 5, 2, 2)
    assert model.validate_datasets([good[0], good[1]]).shape == (2, 5, 2, 2)
    with pytest.raises(bg.DataError, match=r"shape \(replicates, n, \*\(2, 2\)\)"):
        model.validate_datasets(jnp.ones((5, 2, 2)))
    with pytest.raises(bg.DataError, match="unequal shapes"):
        model.validate_datasets([good[0], good[0, :3]])
    with pytest.raises(bg.DataError):
        bg.frequentist.fit_replicates(model, good.at[1, 2, 0, 0].set(2.0), "pseudo_likelihood")
