"""The fully visible Boltzmann machine on spins (a pairwise Markov random field).

    p(s) ∝ exp(Σ_{(i,j) ∈ E} J_ij s_i s_j + Σ_i h_i s_i),   s ∈ {-1, +1}^V,

with one coupling per edge of a graph E on the V spins (the complete graph by default).
An exponential family with sufficient statistics T(s) = ((s_i s_j)_{(i,j) ∈ E}, s) and
natural parameter θ = (J, h), so ∇ log Z = E_θ[T]. Every coupling is a free parameter of
its own edge: the model is identified (a symmetric V x V matrix parameterised by all its
entries would not be).

Exact log Z and exact sampling by enumerating the 2^V configurations, up to
MAX_EXACT_SPINS = 20 spins; beyond that log Z is intractable and sampling is by Gibbs.
The data-space kernel is systematic-scan Gibbs from the closed-form conditionals
p(s_i | s_-i) = sigmoid(2 s_i η_i), η_i = h_i + Σ_j J_ij s_j.

References: D. H. Ackley, G. E. Hinton, T. J. Sejnowski (1985), A learning algorithm for
Boltzmann machines, Cognitive Science 9; J. Besag (1975), Statistical analysis of
non-lattice data, The Statistician 24 (pseudo-likelihood).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.normalizers.enumeration import (
    binary_configurations,
    enumerate_log_normalizer,
    enumerate_log_weights,
)
from bayesgen.samplers import tabulated
from bayesgen.support import Spins

__all__ = ["MAX_EXACT_SPINS", "BoltzmannMachine", "petersen_edges"]

MAX_EXACT_SPINS = 20  # 2^20 configurations enumerated per log Z or sampling call
TABULATED_STATISTICS = 2**20  # the most entries of the table of every configuration's T


def petersen_edges() -> tuple[tuple[int, int], ...]:
    """The Petersen graph's 15 edges on 10 nodes: an outer 5-cycle (0-4), five spokes and
    an inner pentagram (5-9). Every node has degree 3 and the shortest cycle has length 5."""
    outer = [(i, (i + 1) % 5) for i in range(5)]
    spokes = [(i, i + 5) for i in range(5)]
    inner = [(5 + i, 5 + (i + 2) % 5) for i in range(5)]
    return tuple(outer + spokes + inner)


class BoltzmannMachine(Model):
    """A fully visible Boltzmann machine: ``num_spins`` spins, couplings ``J`` on ``edges``
    (shape ``(len(edges),)``, in the order given) and fields ``h`` (shape ``(num_spins,)``).

    Args:
      num_spins: V >= 2.
      edges: pairs ``(i, j)`` of distinct spins, each pair at most once; None: all
        V (V - 1) / 2 pairs. :func:`petersen_edges` gives a sparse 10-spin graph.

    Default priors: every coupling and field Normal(0, 1).

    Example:
      >>> import jax, bayesgen as bg
      >>> from bayesgen.models.boltzmann import petersen_edges
      >>> model = bg.models.BoltzmannMachine(10, petersen_edges())
      >>> model.normalizer, len(model.param_names), model.params_spec[0].shape
      ('exact: enumeration of 1024 configurations', 2, (15,))
      >>> model.sample(jax.random.key(0), model.default_truth, 5).shape
      (5, 10)
    """

    name = "boltzmann"
    mcmc_kernel = "Gibbs, spin by spin, from the closed-form conditionals"

    def __init__(self, num_spins: int = 6, edges=None):
        super().__init__()
        if isinstance(num_spins, bool) or int(num_spins) != num_spins or num_spins < 2:
            raise ParameterError(
                f"BoltzmannMachine num_spins must be an integer >= 2; got {num_spins!r}"
            )
        v = self.num_spins = int(num_spins)
        if edges is None:
            edges = tuple(itertools.combinations(range(v), 2))
        try:
            edges = tuple((int(i), int(j)) for i, j in edges)
        except (TypeError, ValueError):
            raise ParameterError(
                f"BoltzmannMachine edges must be pairs (i, j) of spin indices; got {edges!r}"
            ) from None
        seen = set()
        for i, j in edges:
            if not (0 <= i < v and 0 <= j < v) or i == j:
                raise ParameterError(
                    f"BoltzmannMachine edge ({i}, {j}) must join two distinct spins in 0..{v - 1}"
                )
            if frozenset((i, j)) in seen:
                raise ParameterError(
                    f"BoltzmannMachine edge ({i}, {j}) is given twice; each pair has one "
                    "coupling (two would not be identified)"
                )
            seen.add(frozenset((i, j)))
        if not edges:
            raise ParameterError("BoltzmannMachine needs at least one edge")
        self.edges = edges
        self._i = np.array([e[0] for e in edges])
        self._j = np.array([e[1] for e in edges])
        self.support = Spins((v,))
        self.exact = v <= MAX_EXACT_SPINS
        self.normalizer = f"exact: enumeration of {2**v} configurations" if self.exact else None
        self.has_exact_sampler = self.exact
        self.sampler = (
            f"exact: enumeration of {2**v} configurations"
            if self.exact
            else "approximate: Gibbs, one chain per datum, 1000 sweeps"
        )
        e = len(edges)
        self.params_spec = (
            ParamSpec(
                "J",
                (e,),
                constraints.real_vector,
                dist.Normal(jnp.zeros(e), 1.0).to_event(1),
                "coupling of each edge's two spins",
            ),
            ParamSpec(
                "h",
                (v,),
                constraints.real_vector,
                dist.Normal(jnp.zeros(v), 1.0).to_event(1),
                "field on each spin",
            ),
        )

    def __repr__(self) -> str:
        return f"BoltzmannMachine(num_spins={self.num_spins}, edges={len(self.edges)} pairs)"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> BoltzmannMachine:
        """The CLI's constructor: ``--shape 6`` is 6 spins, every pair coupled."""
        if len(shape) != 1:
            raise ParameterError(
                f"boltzmann takes a shape V (the number of spins), e.g. 6; got {shape}"
            )
        return cls(shape[0])

    @property
    def default_truth(self) -> dict:
        """Fixed couplings of size about 0.3 and fields of about 0.2, of both signs."""
        e = np.arange(len(self.edges))
        return {
            "J": jnp.asarray(0.35 * np.sin(1.0 + 1.7 * e)),
            "h": jnp.asarray(0.2 * np.cos(0.5 + 2.3 * np.arange(self.num_spins))),
        }

    def _intractable_reason(self) -> str:
        return (
            f"{self!r}: {self.num_spins} spins are more than {MAX_EXACT_SPINS} to enumerate; "
            "use pseudo_likelihood, contrastive_divergence, ratio_matching, exchange or "
            "pseudo_posterior, or estimate log Z by annealed importance sampling"
        )

    # -- the density -------------------------------------------------------------------
    def couplings(self, params) -> jax.Array:
        """The symmetric V x V coupling matrix (zero diagonal, zero off the graph)."""
        j = params["J"]
        v = self.num_spins
        return jnp.zeros((v, v), j.dtype).at[self._i, self._j].set(j).at[self._j, self._i].set(j)

    def log_f(self, params, x):
        return jnp.dot(params["J"], x[self._i] * x[self._j]) + jnp.dot(params["h"], x)

    @property
    def statistic_names(self) -> tuple[str, ...]:
        return tuple(f"s{i}s{j}" for i, j in self.edges) + tuple(
            f"s{i}" for i in range(self.num_spins)
        )

    def statistics(self, x: jax.Array) -> jax.Array:
        """T(s) = ((s_i s_j) per edge, s)."""
        return jnp.concatenate([x[self._i] * x[self._j], x])

    exponential_family = True

    def natural_parameters(self, params) -> jax.Array:
        """θ itself, (J, h): log f = J · (s_i s_j)_E + h · s."""
        return jnp.concatenate([params["J"], params["h"]])

    def expected_statistics(self, params) -> jax.Array:
        """E_θ[T] = ∇_θ log Z(θ), exact."""
        grad = jax.grad(self.log_z)(self.check_params(params))
        return jnp.concatenate([grad["J"], grad["h"]])

    def log_z(self, params):
        if not self.exact:
            return super().log_z(params)
        return enumerate_log_normalizer(self.log_f, params, self.num_spins)

    def log_conditionals(self, params, x):
        """log p(s_i | s_-i) = -softplus(-2 s_i η_i), η_i = h_i + Σ_j J_ij s_j."""
        eta = params["h"] + self.couplings(params) @ x
        return -jax.nn.softplus(-2.0 * x * eta)

    # -- simulation --------------------------------------------------------------------
    def draw(self, key, params, n, num_sweeps: int = 1000):
        """Exact by enumeration up to :data:`MAX_EXACT_SPINS` spins (inverse CDF over the
        2^V weights); beyond, each datum is the last state of its own Gibbs chain after
        ``num_sweeps`` sweeps from uniform spins (approximate, as :attr:`sampler` says)."""
        k_draw, k_run = jax.random.split(key)
        if not self.exact:
            dtype = params["h"].dtype
            start = 2.0 * jax.random.bernoulli(k_draw, 0.5, (n, self.num_spins)).astype(dtype) - 1
            return self.mcmc_run(k_run, params, start, num_sweeps)
        log_w = enumerate_log_weights(self.log_f, params, self.num_spins)
        index = tabulated.draw_indices(k_draw, log_w, n).astype(jnp.int32)
        return binary_configurations(index, self.num_spins).astype(params["h"].dtype)

    def sample_statistics(self, key, params, n):
        """Σ_i T(s_i) over ``sample(key, params, n)``'s draws: by enumeration, the counts of
        the drawn configurations times their statistics (tabulated where the table has at
        most 2^20 entries; the same table gives the weights, T · θ), without building the
        draws."""
        stats_size = 2**self.num_spins * (len(self.edges) + self.num_spins)
        if not self.exact or stats_size > TABULATED_STATISTICS:
            return super().sample_statistics(key, params, n)
        params = self.check_params(params)
        configurations = binary_configurations(
            jnp.arange(2**self.num_spins, dtype=jnp.int32), self.num_spins
        ).astype(params["h"].dtype)
        table = jax.vmap(self.statistics)(configurations)
        log_w = table @ self.natural_parameters(params)
        index = tabulated.draw_indices(jax.random.split(key)[0], log_w, n).astype(jnp.int32)
        return jnp.bincount(index, length=2**self.num_spins).astype(table.dtype) @ table

    @property
    def has_mcmc_kernel(self) -> bool:
        return True

    def mcmc_sweep(self, key, params, x, *, step_size=None):
        """One systematic-scan Gibbs sweep: each spin in turn from p(s_i | s_-i)."""
        coupling = self.couplings(params)
        uniforms = jax.random.uniform(key, x.shape, dtype=x.dtype)

        def update(i, s):
            eta = params["h"][i] + coupling[i] @ s
            up = uniforms[i] < jax.nn.sigmoid(2.0 * eta)
            return s.at[i].set(jnp.where(up, 1.0, -1.0).astype(s.dtype))

        return jax.lax.fori_loop(0, self.num_spins, update, x)

    def annealed_run(self, key, params, xs, temperature, num_sweeps):
        """f_θ^t is the machine at tθ: Gibbs sweeps there."""
        scaled = jax.tree.map(lambda p: temperature * p, params)
        return self.mcmc_run(key, scaled, xs, num_sweeps)
