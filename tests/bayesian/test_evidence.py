"""The evidence by AIS and SMC against closed forms and quadrature; log Z(θ) by data-space
AIS against enumeration and the transfer matrix."""

import jax
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import bayesgen as bg
from bayesgen.normalizers import ais_log_normalizer

PRECISION = np.array([[2.0, 0.5], [0.5, 1.0]])
CONJUGATE = bg.models.Gaussian(2, precision=PRECISION)


def _sequential_log_evidence(x, precision, prior_sd):
    """Σ_i log p(x_i | x_<i) by conjugate updating: a second route to the closed form."""
    sigma = np.linalg.inv(precision)
    mean, cov = np.zeros(2), prior_sd**2 * np.eye(2)
    total = 0.0
    for xi in x:
        total += multivariate_normal(mean, cov + sigma).logpdf(xi)
        post_prec = np.linalg.inv(cov) + precision
        mean = np.linalg.solve(post_prec, np.linalg.solve(cov, mean) + precision @ xi)
        cov = np.linalg.inv(post_prec)
    return total


@pytest.fixture(scope="module")
def gaussian_data():
    return CONJUGATE.sample(jax.random.key(0), {"mu": np.array([1.0, -0.5])}, 50)


def test_conjugate_closed_form_agrees_with_sequential_updating(gaussian_data):
    x = np.asarray(gaussian_data)
    np.testing.assert_allclose(
        CONJUGATE.conjugate_log_evidence(x),
        _sequential_log_evidence(x, PRECISION, 10.0),
        rtol=1e-10,
    )


@pytest.mark.parametrize("method", ["ais", "smc"])
def test_gaussian_evidence_matches_the_closed_form(gaussian_data, method):
    exact = CONJUGATE.conjugate_log_evidence(gaussian_data)
    result = bg.log_evidence(CONJUGATE, gaussian_data, method, key=jax.random.key(1))
    assert 0 < result.stderr < 0.2
    assert abs(result.log_evidence - exact) < 3 * result.stderr, (result, exact)


def test_ising_evidence_matches_quadrature(ising4_data, ising4_log_joint):
    model = bg.models.Ising((4, 4))
    data = ising4_data
    axes = np.linspace(0.25, 0.36, 221), np.linspace(-0.01, 0.11, 241)
    b, h = np.meshgrid(*axes, indexing="ij")
    theta = np.stack([b.ravel(), h.ravel()], 1)
    log_joint = ising4_log_joint(data, theta)
    cell = np.diff(axes[0])[0] * np.diff(axes[1])[0]
    exact = logsumexp(log_joint) + np.log(cell)  # the posterior is far inside the grid
    result = bg.log_evidence(model, data, "smc", key=jax.random.key(3))
    assert 0 < result.stderr < 0.2
    assert abs(result.log_evidence - exact) < 3 * result.stderr, (result, exact)


@pytest.mark.parametrize("shape", [(4, 4), (8, 8)])
def test_ais_log_normalizer_matches_the_exact_one(shape):
    model = bg.models.Ising(shape)
    params = {"beta": 0.3, "h": 0.05}
    log_z, se = ais_log_normalizer(model, params, jax.random.key(5), num_temperatures=1000)
    exact = float(model.log_normalizer(params))
    assert 0 < float(se) < 0.02
    assert abs(float(log_z) - exact) < 3 * float(se), (float(log_z), float(se), exact)


def test_generic_annealing_kernel_matches_enumeration():
    class GenericIsing(bg.models.Ising):  # the Model default: Gibbs on t · log f
        annealed_run = bg.Model.annealed_run

    params = {"beta": 0.4, "h": -0.1}
    model = GenericIsing((3, 3))
    log_z, se = ais_log_normalizer(model, params, jax.random.key(6), num_temperatures=200)
    exact = float(bg.models.Ising((3, 3)).log_normalizer(params))
    assert 0 < float(se) < 0.02
    assert abs(float(log_z) - exact) < 3 * float(se)


def test_bad_evidence_requests_are_package_errors(gaussian_data):
    with pytest.raises(bg.MethodError, match="unknown evidence method"):
        bg.log_evidence(CONJUGATE, gaussian_data, "nested")
    with pytest.raises(bg.IntractableNormalizerError, match="ais_log_normalizer"):
        bg.log_evidence(bg.models.Ising((16, 16)), np.ones((3, 16, 16)), "ais")
    with pytest.raises(bg.MethodError, match="num_particles"):
        bg.log_evidence(CONJUGATE, gaussian_data, "smc", num_particles=1)
    with pytest.raises(bg.DataError):
        bg.log_evidence(CONJUGATE, np.full((3, 2), np.nan), "smc")
    with pytest.raises(bg.MethodError, match="two-valued support"):
        ais_log_normalizer(CONJUGATE, {"mu": np.zeros(2)}, jax.random.key(0))
    with pytest.raises(bg.ParameterError, match="symmetric positive definite"):
        bg.models.Gaussian(2, precision=-np.eye(2))
