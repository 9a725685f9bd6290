"""Independent component analysis with Laplace sources: the benchmark model of
noise-contrastive estimation (Gutmann & Hyvärinen 2010).

The data are x = A s with P independent unit-variance Laplace sources s, p(s_i) =
exp(-√2 |s_i|)/√2. With the unmixing matrix B = A⁻¹ (rows b_i),

    log f_B(x) = -√2 Σ_i |b_iᵀ x|,    log Z(B) = (P/2) log 2 - log |det B|,

so log p = log f - log Z is the change of variables from the sources. Gutmann & Hyvärinen
fit log f with a free constant c in place of -log Z: NCE must estimate it, and the truth,
log |det B| - (P/2) log 2 = -log Z(B), is known in closed form.

The density is not smooth (|·| has a kink on every hyperplane b_iᵀx = 0), so score
matching, which integrates second derivatives by parts, does not apply (``smooth = False``);
the likelihood is invariant to permuting and negating the rows of B, so the parameter is
identified only up to those. Fits start from B = I (the origin, B = 0, is a stationary point
of every loss).

Reference: M. Gutmann, A. Hyvärinen (2010), Noise-contrastive estimation: a new estimation
principle for unnormalized statistical models, AISTATS (section 4.1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.support import Reals

__all__ = ["ICA"]

SQRT2 = math.sqrt(2.0)


class ICA(Model):
    """ICA with ``dim`` Laplace sources and the unmixing matrix ``B`` (dim, dim) as parameter.

    Default prior: every entry of ``B`` Normal(0, 2).

    Example:
      >>> import jax.numpy as jnp, bayesgen as bg
      >>> model = bg.models.ICA(4)
      >>> float(model.log_normalizer({"B": jnp.eye(4)}))  # (P/2) log 2
      1.3862943611198906
    """

    name = "ica"
    normalizer = "exact: closed form ((P/2) log 2 - log |det B|)"
    sampler = "exact: Laplace sources, mixed by B⁻¹"
    has_exact_sampler = True
    smooth = False

    def __init__(self, dim: int = 4):
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ParameterError(f"ICA dim must be a positive integer; got {dim!r}")
        self.dim = d = int(dim)
        self.support = Reals((d,))
        self.params_spec = (
            ParamSpec(
                "B",
                (d, d),
                constraints.independent(constraints.real, 2),
                dist.Normal(jnp.zeros((d, d)), 2.0).to_event(2),
                "unmixing matrix (rows: the sources' filters)",
            ),
        )

    def __repr__(self) -> str:
        return f"ICA(dim={self.dim})"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> ICA:
        """The CLI's constructor: ``--shape 4`` is four sources."""
        if len(shape) != 1:
            raise ParameterError(f"ica takes a shape P (the number of sources); got {shape}")
        return cls(shape[0])

    @property
    def default_truth(self) -> dict:
        """A fixed, well-conditioned unmixing matrix: I plus a fixed perturbation."""
        d = self.dim
        i, j = jnp.meshgrid(jnp.arange(d), jnp.arange(d), indexing="ij")
        return {"B": jnp.eye(d) + 0.3 * jnp.sin(1.0 + 2.0 * i + 3.0 * j)}

    def initial_params(self) -> dict:
        return {"B": jnp.eye(self.dim)}

    def log_f(self, params, x):
        return -SQRT2 * jnp.sum(jnp.abs(params["B"] @ x))

    def log_z(self, params):
        return 0.5 * self.dim * math.log(2.0) - jnp.linalg.slogdet(params["B"])[1]

    def draw(self, key, params, n):
        s = jax.random.laplace(key, (n, self.dim), params["B"].dtype) / SQRT2  # unit variance
        return jnp.linalg.solve(params["B"], s.T).T
