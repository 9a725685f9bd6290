"""The Ising model: exact sampling, the Model API, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import bayesgen as bg

TRUTH = {"beta": 0.3, "h": 0.05}


def test_exact_sampler_moments_within_standard_errors():
    model = bg.models.Ising((4, 4))
    assert model.sampler == "exact: enumeration"
    n = 4000
    x = model.sample(jax.random.key(0), TRUTH, n)
    assert x.shape == (n, 4, 4)
    model.validate(x)  # the sampler's output is in the support
    t = np.asarray(jax.vmap(model.statistics)(x))
    se = t.std(0, ddof=1) / np.sqrt(n)
    exact = np.asarray(model.expected_statistics(TRUTH))
    assert (np.abs(t.mean(0) - exact) < 4 * se).all()


@pytest.mark.parametrize("traced", [False, True], ids=["host", "jit"])
def test_exact_sampler_draws_every_configuration_with_its_probability(traced):
    """Chi-square of 60,000 draws on 2x3 (64 configurations) against enumeration: the class
    of the sufficient statistics and the configuration inside it are both exact."""
    from scipy.stats import chisquare

    model = bg.models.Ising((2, 3))
    params = {"beta": 0.4, "h": -0.3}
    n = 60_000
    draw = (
        (lambda k: model.sample(k, params, n))
        if not traced
        else jax.jit(lambda k: model.sample(k, model.check_params(params), n))
    )
    x = np.asarray(draw(jax.random.key(4))).reshape(n, 6)
    index = ((x > 0) * (2 ** np.arange(6))).sum(1)
    configs = bg.normalizers.binary_configurations(jnp.arange(64), 6).reshape(64, 2, 3)
    log_p = jax.vmap(lambda s: model.log_prob(params, s))(configs)
    expected = n * np.exp(np.asarray(log_p, np.float64))
    observed = np.bincount(index, minlength=64)
    assert chisquare(observed, expected / expected.sum() * n).pvalue > 1e-3


@pytest.mark.parametrize(
    ("shape", "params"),
    [
        ((5, 5), {"beta": 0.6, "h": 0.05}),
        ((7, 4), {"beta": 0.3, "h": -0.1}),
        ((3, 9), {"beta": 1.0, "h": 0.02}),
    ],
    ids=["5x5-cold", "7x4-hot", "3x9-cold"],
)
def test_transfer_matrix_sampler_is_exact_beyond_enumeration(shape, params):
    # Cold lattices too, where independent Gibbs chains stay stuck in the wrong phase.
    model = bg.models.Ising(shape)
    assert model.sampler == "exact: transfer matrix, row by row"
    n = 5000
    x = model.sample(jax.random.key(1), params, n)
    assert x.shape == (n, *shape)
    t = np.asarray(jax.vmap(model.statistics)(x))
    se = t.std(0, ddof=1) / np.sqrt(n)  # iid draws
    exact = np.asarray(model.expected_statistics(params))
    assert (np.abs(t.mean(0) - exact) < 4 * se).all(), (t.mean(0), exact, se)


def test_large_lattice_samples_by_gibbs():
    model = bg.models.Ising((16, 16))
    assert model.sampler.startswith("approximate: checkerboard Gibbs")
    x = model.sample(jax.random.key(1), TRUTH, 20, num_sweeps=50)
    assert x.shape == (20, 16, 16)
    model.validate(x)
    with pytest.raises(bg.MethodError, match="gibbs"):
        model.sample(jax.random.key(1), TRUTH, 3, method="exact")
    with pytest.raises(bg.ParameterError, match="unexpected keyword"):
        model.sample(jax.random.key(1), TRUTH, 3, sweeps=10)


def test_log_prob_normalises_and_log_likelihood_sums():
    model = bg.models.Ising((2, 3))
    from bayesgen.normalizers import binary_configurations

    configs = binary_configurations(jnp.arange(64), 6).reshape(64, 2, 3)
    lp = jax.vmap(model.log_prob, (None, 0))(TRUTH, configs)
    np.testing.assert_allclose(jax.nn.logsumexp(lp), 0.0, atol=1e-12)
    np.testing.assert_allclose(model.log_likelihood(TRUTH, configs), lp.sum(), rtol=1e-12)


def test_param_names_prior_and_with_prior():
    model = bg.models.Ising((4, 4))
    assert model.param_names == ("beta", "h")
    assert set(model.prior) == {"beta", "h"}
    new = model.with_prior({"beta": dist.Uniform(0.0, 1.0)})
    assert isinstance(new.prior["beta"], dist.Uniform)
    assert isinstance(model.prior["beta"], dist.Normal)  # the original is unchanged
    assert new.normalizer == model.normalizer
    with pytest.raises(bg.ParameterError, match="no parameter 'gamma'"):
        model.with_prior({"gamma": dist.Normal()})
    with pytest.raises(bg.ParameterError, match="shape"):
        model.with_prior({"beta": dist.Normal(jnp.zeros(2), 1.0)})


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (np.zeros((3, 4, 4)), "datum 0: value 0.0 is not in .*0/1 bits"),
        (np.ones((3, 4, 4)) * np.array([1, 1, 2])[:, None, None], r"datum 2: value 2.0 .*\(0, 0\)"),
        (np.ones((3, 4, 5)), r"shape \(n, 4, 4\)"),
        (np.ones((4, 4)), "single datum"),
        (np.ones((0, 4, 4)), "empty"),
        (np.where(np.arange(48).reshape(3, 4, 4) == 21, np.nan, 1.0), r"datum 1 .*nan.* \(1, 1\)"),
        (np.full((2, 4, 4), "a"), "numeric"),
    ],
    ids=["zero-spins", "two", "wrong-shape", "single", "empty", "nan", "strings"],
)
def test_bad_data_raise_data_error(data, match):
    model = bg.models.Ising((4, 4))
    with pytest.raises(bg.DataError, match=match):
        model.validate(data)
    with pytest.raises(bg.DataError):
        model.log_likelihood(TRUTH, data)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"beta": np.nan, "h": 0.0}, "'beta' must be finite"),
        ({"beta": 0.3, "h": np.inf}, "'h' must be finite"),
        ({"beta": jnp.zeros(2), "h": 0.0}, r"'beta' must have shape \(\); got \(2,\)"),
        ({"beta": 0.3}, r"missing \['h'\]"),
        ({"beta": 0.3, "h": 0.0, "J": 1.0}, r"unknown \['J'\]"),
        ([0.3, 0.0], "must be a dict"),
        ({"beta": "x", "h": 0.0}, "not numeric"),
    ],
)
def test_bad_parameters_raise_parameter_error(params, match):
    model = bg.models.Ising((4, 4))
    for call in (model.log_normalizer, lambda p: model.sample(jax.random.key(0), p, 2)):
        with pytest.raises(bg.ParameterError, match=match):
            call(params)


def test_bad_construction():
    with pytest.raises(bg.ParameterError, match="L, M >= 2"):
        bg.models.Ising((1, 4))
    with pytest.raises(bg.ParameterError, match="two integers"):
        bg.models.Ising("4x4")
    with pytest.raises(bg.MethodError, match="unknown normalizer"):
        bg.models.Ising((4, 4), normalizer="magic")
    with pytest.raises(bg.ParameterError, match="positive integer"):
        bg.models.Ising((4, 4)).sample(jax.random.key(0), TRUTH, 0)
    with pytest.raises(bg.ParameterError, match="positive integer"):
        bg.models.Ising((4, 4)).sample(jax.random.key(0), TRUTH, None)
    with pytest.raises(bg.ParameterError, match="two integers"):
        bg.models.Ising((4.7, 4))
    with pytest.raises(bg.DataError, match="not in"):
        bg.models.Ising((4, 4)).log_unnormalized(TRUTH, np.zeros((4, 4)))
    with pytest.raises(bg.DataError, match="not in"):
        bg.models.Ising((4, 4)).validate(np.full((2, 4, 4), 3, dtype=np.uint8))
    with pytest.raises(bg.DataError, match="one datum"):
        bg.models.Ising((4, 4)).log_unnormalized(TRUTH, jnp.ones((2, 4, 4)))


def test_errors_are_package_errors():
    for cls in (bg.DataError, bg.ParameterError, bg.IntractableNormalizerError, bg.MethodError):
        assert issubclass(cls, bg.BayesgenError)


@pytest.mark.parametrize("shape", [(4, 6), (6, 6), (2, 6)])
def test_zero_field_kaufman_matches_the_transfer_matrix_at_every_coupling(shape):
    # Kaufman's formula holds for beta > 0; the model extends it by Z(-beta) = Z(beta) on
    # even sides and by its Taylor expansion below 1e-4: value and gradient against the
    # transfer matrix at h = 0, both signs, across the small-beta switch.
    zero = bg.models.Ising(shape, field=False, normalizer="kaufman")
    full = bg.models.Ising(shape, normalizer="transfer_matrix")
    assert zero.param_names == ("beta",) and zero.normalizer.startswith("exact: Kaufman")

    def log_z(b):
        return zero.log_normalizer({"beta": b})

    def log_z_tm(b):
        return full.log_normalizer({"beta": b, "h": 0.0})

    for beta in (-0.7, -0.3, -2e-4, -1e-5, 0.0, 3e-5, 1e-4, 0.2, 0.4406868, 1.2):
        np.testing.assert_allclose(log_z(beta), log_z_tm(beta), rtol=0, atol=1e-10)
        np.testing.assert_allclose(jax.grad(log_z)(beta), jax.grad(log_z_tm)(beta), atol=1e-8)


def test_zero_field_model_is_the_field_model_at_h_zero():
    zero, full = bg.models.Ising((3, 5), field=False), bg.models.Ising((3, 5))
    assert zero.normalizer == full.normalizer == "exact: enumeration"  # odd side: no Kaufman
    x = full.sample(jax.random.key(0), {"beta": 0.3, "h": 0.0}, 50)
    np.testing.assert_allclose(
        zero.log_likelihood({"beta": 0.3}, x), full.log_likelihood({"beta": 0.3, "h": 0.0}, x)
    )
    np.testing.assert_allclose(
        zero.log_conditionals({"beta": 0.3}, x[0]),
        full.log_conditionals({"beta": 0.3, "h": 0.0}, x[0]),
    )
    assert zero.statistic_names == ("bonds",) and zero.default_truth == {"beta": 0.3}
    big_odd = bg.models.Ising((33, 33), field=False)
    assert big_odd.normalizer is None
    with pytest.raises(bg.MethodError, match="even sides"):
        bg.models.Ising((33, 33), field=False, normalizer="kaufman")
    with pytest.raises(bg.MethodError, match="zero-field"):
        bg.models.Ising((32, 32), normalizer="kaufman")
    with pytest.raises(bg.IntractableNormalizerError, match="field=False"):
        bg.models.Ising((32, 32)).log_normalizer(TRUTH)
    with pytest.raises(bg.ParameterError, match="True or False"):
        bg.models.Ising((4, 4), field=0)
