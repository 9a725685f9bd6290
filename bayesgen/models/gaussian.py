"""The multivariate Gaussian, written as an unnormalised density: the reference model.

    log f_θ(x) = -½ (x - μ)ᵀ Λ (x - μ),
    log Z(θ)   = (d/2) log 2π - ½ log det Λ,

with mean ``mu`` (d,) and precision ``Lambda`` (d, d) symmetric positive definite. Every
method's answer is known in closed form here (the MLE is the sample mean and the inverse
of the biased sample covariance; score matching recovers the same), so it tests the
machinery on a case with no approximation in the ground truth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.support import Reals

__all__ = ["Gaussian"]


class Gaussian(Model):
    """d-dimensional Gaussian with parameters ``mu`` (d,) and ``precision`` (d, d).

    Default priors: ``mu ~ Normal(0, 10)`` per coordinate, ``precision ~ Wishart(d + 1, I)``.

    Example:
      >>> import jax, bayesgen as bg
      >>> model = bg.models.Gaussian(dim=2)
      >>> params = {"mu": jax.numpy.zeros(2), "precision": jax.numpy.eye(2)}
      >>> float(model.log_normalizer(params))  # log 2π
      1.8378770664093453
    """

    name = "gaussian"
    normalizer = "exact: closed form"
    sampler = "exact: Cholesky factor of the covariance"

    def __init__(self, dim: int = 2):
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ParameterError(f"Gaussian dim must be a positive integer; got {dim!r}")
        self.dim = d = int(dim)
        self.support = Reals((d,))
        self.params_spec = (
            ParamSpec(
                "mu",
                (d,),
                constraints.real_vector,
                dist.Normal(jnp.zeros(d), 10.0).to_event(1),
                "mean",
            ),
            ParamSpec(
                "precision",
                (d, d),
                constraints.positive_definite,
                dist.Wishart(float(d + 1), scale_matrix=jnp.eye(d)),
                "inverse covariance",
            ),
        )

    def __repr__(self) -> str:
        return f"Gaussian(dim={self.dim})"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> Gaussian:
        """The CLI's constructor: ``--shape 3`` is a 3-dimensional Gaussian."""
        if len(shape) != 1:
            raise ParameterError(f"gaussian takes a shape D (the dimension), e.g. 2; got {shape}")
        return cls(shape[0])

    @property
    def default_truth(self) -> dict:
        return {"mu": jnp.zeros(self.dim), "precision": jnp.eye(self.dim)}

    @property
    def statistic_names(self) -> tuple[str, ...]:
        d = self.dim
        return tuple(f"x[{i}]" for i in range(d)) + tuple(f"x[{i}]^2" for i in range(d))

    def statistics(self, x: jax.Array) -> jax.Array:
        """Per coordinate: x_i, then x_i²."""
        return jnp.concatenate([x, x**2])

    def expected_statistics(self, params) -> jax.Array:
        """E[x_i] = μ_i and E[x_i²] = μ_i² + (Λ⁻¹)_ii."""
        params = self.check_params(params)
        mu = params["mu"]
        return jnp.concatenate([mu, mu**2 + jnp.diag(jnp.linalg.inv(params["precision"]))])

    def _log_unnormalized(self, params, x):
        r = x - params["mu"]
        return -0.5 * r @ params["precision"] @ r

    def _log_normalizer(self, params):
        _, logdet = jnp.linalg.slogdet(params["precision"])
        return 0.5 * self.dim * jnp.log(2 * jnp.pi) - 0.5 * logdet

    def _sample(self, key, params, n):
        chol = jnp.linalg.cholesky(params["precision"])  # Λ = L Lᵀ, so Cov = L⁻ᵀ L⁻¹
        z = jax.random.normal(key, (n, self.dim), dtype=chol.dtype)
        return params["mu"] + jax.scipy.linalg.solve_triangular(chol.T, z.T, lower=False).T
