"""The von Mises–Fisher distribution on the sphere S^(d-1), written as an unnormalised density.

    log f_θ(x) = κ μᵀx,
    log Z(θ)   = -log C_d(κ) = (d/2) log 2π + log I_{d/2-1}(κ) - (d/2 - 1) log κ,

with mean direction ``mu`` (a unit vector in R^d) and concentration ``kappa`` > 0; I_ν is
the modified Bessel function of the first kind (:mod:`bayesgen.normalizers.bessel`,
written in JAX and differentiable in κ). Exact sampling by Wood's (1994) rejection sampler.

The unit-vector parameter is sampled and optimised through R^d: μ = v / ‖v‖, where the
change of variables carries a proper density for the radius (log ‖v‖ ~ N(0, 0.05²); the
idea of NumPyro's ``ProjectedNormalReparam``), so the direction's prior is unchanged and the
unconstrained posterior is proper.

Reference: A. T. A. Wood (1994), Simulation of the von Mises Fisher distribution, Comm.
Statist. Simulation Comput. 23.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import ParameterFreeTransform, biject_to

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.normalizers.bessel import log_bessel_i, log_bessel_ratio
from bayesgen.support import Sphere, sphere_log_area, uniform_unit_vectors

__all__ = ["UniformSphere", "VonMisesFisher", "unit_vector"]

MAX_TRIES = 64  # Wood's sampler: rejection tries per draw (a non-finite κ draws NaN at once)


class _UnitVector(type(constraints.sphere)):
    """Unit vectors: NumPyro's sphere constraint, with bayesgen's bijection from R^d."""


unit_vector = _UnitVector()


RADIUS_SCALE = 0.05  # sd of log ‖v‖ under the unit vector's change of variables


class _Normalize(ParameterFreeTransform):
    """R^d onto the unit sphere, v ↦ v / ‖v‖. Its 'Jacobian' term is a density for v whose
    integral over the radius is 1 along every direction, log ‖v‖ ~ N(0, RADIUS_SCALE²), so
    the direction keeps its prior and the radius is a nuisance near 1: the posterior in v
    has no funnel at the origin for NUTS to fall into."""

    domain = constraints.real_vector
    codomain = unit_vector

    def __call__(self, x):
        return x / jnp.linalg.norm(x, axis=-1, keepdims=True)

    def _inverse(self, y):
        return y

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        d = x.shape[-1]
        log_r = 0.5 * jnp.log(jnp.sum(x * x, axis=-1))
        log_normal = -0.5 * (log_r / RADIUS_SCALE) ** 2 - math.log(
            RADIUS_SCALE * math.sqrt(2 * math.pi)
        )
        return log_normal - d * log_r


biject_to.register(_UnitVector, lambda constraint: _Normalize())


class UniformSphere(dist.Distribution):
    """The uniform distribution on S^(dim-1) (the default prior of the mean direction)."""

    support = unit_vector

    def __init__(self, dim: int, *, validate_args=None):
        self.dim = int(dim)
        super().__init__(batch_shape=(), event_shape=(self.dim,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        return uniform_unit_vectors(key, (*sample_shape, self.dim))

    def log_prob(self, value):
        return jnp.full(jnp.shape(value)[:-1], -sphere_log_area(self.dim))


class VonMisesFisher(Model):
    """von Mises–Fisher on S^(dim-1), ``dim`` >= 2, with parameters ``mu`` (dim,) and
    ``kappa``.

    Default priors: ``mu`` uniform on the sphere, ``kappa ~ LogNormal(log 10, 2)``.

    Example:
      >>> import jax, jax.numpy as jnp, bayesgen as bg
      >>> model = bg.models.VonMisesFisher(3)
      >>> params = {"mu": jnp.array([0.0, 0.0, 1.0]), "kappa": 2.0}
      >>> x = model.sample(jax.random.key(0), params, 5)
      >>> x.shape
      (5, 3)
    """

    name = "vmf"
    normalizer = "exact: log Bessel I (Debye expansion and recurrence)"
    sampler = "exact: Wood (1994) rejection"
    has_exact_sampler = True
    mcmc_kernel = "independent exact draws (Wood 1994)"

    def __init__(self, dim: int = 3):
        super().__init__()
        if int(dim) != dim or dim < 2:
            raise ParameterError(f"VonMisesFisher dim must be an integer >= 2; got {dim!r}")
        self.dim = d = int(dim)
        self.support = Sphere(d)
        self.params_spec = (
            ParamSpec("mu", (d,), unit_vector, UniformSphere(d), "mean direction"),
            ParamSpec(
                "kappa",
                (),
                constraints.positive,
                dist.LogNormal(math.log(10.0), 2.0),
                "concentration",
            ),
        )

    def __repr__(self) -> str:
        return f"VonMisesFisher(dim={self.dim})"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> VonMisesFisher:
        """The CLI's constructor: ``--shape 3`` is the sphere S^2 in R^3."""
        if len(shape) != 1:
            raise ParameterError(f"vmf takes a shape D (the dimension), e.g. 3; got {shape}")
        return cls(shape[0])

    @property
    def default_truth(self) -> dict:
        return {"mu": jnp.ones(self.dim) / math.sqrt(self.dim), "kappa": jnp.asarray(10.0)}

    @property
    def statistic_names(self) -> tuple[str, ...]:
        return tuple(f"x[{i}]" for i in range(self.dim))

    def statistics(self, x):
        """The datum itself (its mean is A_d(κ) μ)."""
        return x

    def expected_statistics(self, params):
        """E[x] = A_d(κ) μ, A_d(κ) = I_{d/2}(κ) / I_{d/2-1}(κ)."""
        params = self.check_params(params)
        return jnp.exp(log_bessel_ratio(0.5 * self.dim - 1.0, params["kappa"])) * params["mu"]

    def log_f(self, params, x):
        return params["kappa"] * jnp.dot(params["mu"], x)

    def log_z(self, params):
        nu, kappa = 0.5 * self.dim - 1.0, params["kappa"]
        return (
            0.5 * self.dim * math.log(2 * math.pi) + log_bessel_i(nu, kappa) - nu * jnp.log(kappa)
        )

    def draw(self, key, params, n):
        mu, kappa = params["mu"], params["kappa"]
        d = self.dim
        dtype = mu.dtype
        # Wood (1994): w = μᵀx by rejection from a transformed Beta((d-1)/2, (d-1)/2).
        b = (d - 1.0) / (2.0 * kappa + jnp.sqrt(4.0 * kappa**2 + (d - 1.0) ** 2))
        x0 = (1.0 - b) / (1.0 + b)
        c = kappa * x0 + (d - 1.0) * jnp.log1p(-x0 * x0)

        def one_w(k):
            def cond(state):  # at most MAX_TRIES (each accepts with probability > 1/2)
                return ~state[1] & (state[3] < MAX_TRIES)

            def body(state):
                k, _, _, tries = state
                k, kz, ku = jax.random.split(k, 3)
                z = jax.random.beta(kz, 0.5 * (d - 1), 0.5 * (d - 1), dtype=dtype)
                w = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
                u = jax.random.uniform(ku, dtype=dtype)
                accept = kappa * w + (d - 1.0) * jnp.log1p(-x0 * w) - c >= jnp.log(u)
                return k, accept, w, tries + 1

            start = (k, ~jnp.isfinite(kappa), jnp.full((), jnp.nan, dtype), 0)
            return jax.lax.while_loop(cond, body, start)[2]

        key_w, key_v = jax.random.split(key)
        w = jax.vmap(one_w)(jax.random.split(key_w, n))
        v = uniform_unit_vectors(key_v, (n, d - 1), dtype)  # a uniform direction ⊥ e_1
        x = jnp.concatenate([w[:, None], jnp.sqrt(jnp.clip(1.0 - w * w, 0.0))[:, None] * v], 1)
        # Householder reflection taking e_1 to μ (the identity when μ = e_1).
        u = jnp.zeros(d, dtype).at[0].set(1.0) - mu
        uu = jnp.dot(u, u)
        scale = jnp.where(uu > 1e-30, 2.0 / jnp.where(uu > 1e-30, uu, 1.0), 0.0)
        return x - scale * (x @ u)[:, None] * u

    @property
    def has_mcmc_kernel(self) -> bool:
        return True

    def mcmc_sweep(self, key, params, x, *, step_size=None):
        """An exact draw, independent of ``x``: a Markov kernel that leaves p_θ invariant."""
        return self.draw(key, params, 1)[0]

    def mcmc_run(self, key, params, xs, num_sweeps, *, step_size=None):
        """One exact draw per chain (what any number of the independent sweeps amounts to)."""
        return self.draw(key, params, xs.shape[0])
