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
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.support import Reals

__all__ = ["Gaussian"]


class Gaussian(Model):
    """d-dimensional Gaussian with parameters ``mu`` (d,) and ``precision`` (d, d).

    Default priors: ``mu ~ Normal(0, 10)`` per coordinate, ``precision ~ Wishart(d + 1, I)``.

    ``Gaussian(d, precision=P)`` fixes the precision at the SPD matrix ``P`` and leaves
    ``mu`` the only parameter: with a Normal prior on ``mu`` (conjugate), the posterior and
    the evidence are in closed form (see :meth:`conjugate_log_evidence`).

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
    has_exact_sampler = True

    def __init__(self, dim: int = 2, *, precision=None):
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ParameterError(f"Gaussian dim must be a positive integer; got {dim!r}")
        self.dim = d = int(dim)
        self.support = Reals((d,))
        self.fixed_precision = None
        if precision is not None:
            p = np.asarray(precision, dtype=float)
            if p.shape != (d, d) or not np.allclose(p, p.T) or np.linalg.eigvalsh(p).min() <= 0:
                raise ParameterError(
                    f"precision must be a symmetric positive definite ({d}, {d}) matrix"
                )
            self.fixed_precision = p
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
        if self.fixed_precision is not None:
            self.params_spec = self.params_spec[:1]

    def __repr__(self) -> str:
        if self.fixed_precision is not None:
            return f"Gaussian(dim={self.dim}, precision=fixed)"
        return f"Gaussian(dim={self.dim})"

    def _precision(self, params):
        if self.fixed_precision is not None:
            return jnp.asarray(self.fixed_precision, jnp.asarray(params["mu"]).dtype)
        return params["precision"]

    def conjugate_log_evidence(self, data) -> float:
        """log p(x_1..x_n) in closed form, for a fixed precision and a Normal prior on ``mu``
        (float64, numpy): the data are jointly Gaussian with mean m and covariance
        I_n ⊗ Σ + 1 1ᵀ ⊗ S, Σ = P⁻¹, S the prior covariance of ``mu``."""
        prior = self.prior["mu"]
        base = getattr(prior, "base_dist", prior)
        if self.fixed_precision is None or type(base).__name__ != "Normal":
            raise ParameterError("the closed-form evidence needs precision= and a Normal prior")
        x = np.asarray(data, dtype=float)
        n, d = x.shape
        m = np.broadcast_to(np.asarray(base.loc, float), (d,))
        s = np.diag(np.broadcast_to(np.asarray(base.scale, float) ** 2, (d,)))
        sigma = np.linalg.inv(self.fixed_precision)
        cov = np.kron(np.eye(n), sigma) + np.kron(np.ones((n, n)), s)
        r = (x - m).reshape(-1)
        _, logdet = np.linalg.slogdet(cov)
        return float(-0.5 * (n * d * np.log(2 * np.pi) + logdet + r @ np.linalg.solve(cov, r)))

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> Gaussian:
        """The CLI's constructor: ``--shape 3`` is a 3-dimensional Gaussian."""
        if len(shape) != 1:
            raise ParameterError(f"gaussian takes a shape D (the dimension), e.g. 2; got {shape}")
        return cls(shape[0])

    @property
    def default_truth(self) -> dict:
        if self.fixed_precision is not None:
            return {"mu": jnp.zeros(self.dim)}
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
        return jnp.concatenate([mu, mu**2 + jnp.diag(jnp.linalg.inv(self._precision(params)))])

    def log_f(self, params, x):
        r = x - params["mu"]
        return -0.5 * r @ self._precision(params) @ r

    def log_z(self, params):
        _, logdet = jnp.linalg.slogdet(self._precision(params))
        return 0.5 * self.dim * jnp.log(2 * jnp.pi) - 0.5 * logdet

    def draw(self, key, params, n):
        chol = jnp.linalg.cholesky(self._precision(params))  # Λ = L Lᵀ, so Cov = L⁻ᵀ L⁻¹
        z = jax.random.normal(key, (n, self.dim), dtype=chol.dtype)
        return params["mu"] + jax.scipy.linalg.solve_triangular(chol.T, z.T, lower=False).T
