"""The periodic 2-D Ising model.

    p(s) ∝ exp(β Σ_<ij> s_i s_j + h Σ_i s_i),   s ∈ {-1, +1}^{L x M},

where each site is bonded to its right and lower neighbour with wrap-around (2 L M bonds;
a side of length 2 bonds the same pair twice). It is an exponential family with sufficient
statistics T(s) = (Σ_<ij> s_i s_j, Σ_i s_i) and natural parameter θ = (β, h), so
∇ log Z(θ) = E_θ[T] and ∇² log Z(θ) = Cov_θ[T].

Exact log Z by enumeration (up to 25 spins) or by the row transfer matrix (narrower side up
to 12, any length), chosen by cost; see :attr:`Ising.normalizer`. The zero-field model
(``field=False``: the single parameter β, h fixed at 0) has Kaufman's (1949) closed form at
any size, so exact MLE and the exact posterior are ground truth on 32 x 32, 64 x 64 and
beyond, where no method that needs only f_θ can lean on a tractable Z.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import IntractableNormalizerError, MethodError, ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.normalizers import (
    MAX_WIDTH,
    binary_configurations,
    enumerate_log_normalizer,
    ising_torus_log_z_kaufman,
    ising_transfer_matrix_log_z,
    ising_transfer_matrix_sample,
    transfer_matrix_sampling_cost,
)
from bayesgen.samplers import checkerboard, swendsen_wang
from bayesgen.support import Spins

__all__ = ["Ising"]

MAX_ENUMERATION_SITES = 25  # log Z by enumeration: 2^25 configurations, about a second
MAX_TABULATED_SITES = 20  # the density of states (log Z, exact sampling) is tabulated once
MAX_TM_SAMPLING = 2**26  # transfer-matrix sampling holds rows x 4^width entries
NORMALIZERS = ("auto", "enumeration", "transfer_matrix", "kaufman")
KERNELS = ("auto", "gibbs", "swendsen_wang")
# Below this |β| the zero-field log Z is its Taylor expansion N log 2 + Var_0[T] β² / 2
# (error O(N β⁴), under 1e-13 here): Kaufman's γ_0 = 2β + log tanh β diverges at β = 0.
KAUFMAN_SMALL_BETA = 1e-4


class Ising(Model):
    """Periodic L x M Ising model with coupling ``beta`` and field ``h``.

    Args:
      shape: ``(L, M)``, both sides >= 2.
      field: with False, the zero-field model: the single parameter ``beta`` (h = 0),
        whose log Z is Kaufman's closed form at any size when both sides are even (a
        bipartite torus, where Z(-β) = Z(β) by flipping one sublattice); with an odd side
        it needs enumeration or the transfer matrix (the closed form as written holds for
        β > 0 only, and a frustrated lattice at β < 0 has no such symmetry).
      normalizer: ``"auto"`` (the cheaper exact strategy: Kaufman's formula for the
        zero-field model on even sides), ``"enumeration"``, ``"transfer_matrix"`` or
        ``"kaufman"`` (zero field, even sides). Up to 20 spins, enumeration is tabulated
        once by sufficient statistic (the density of states g(T), counted over all 2^n
        configurations), so
        log Z = log Σ_T g(T) exp(θ·T) and exact sampling cost a few hundred terms per call;
        that is "auto"'s choice there. Up to 25 spins it sums all configurations per call.
      kernel: the data-space Markov kernel of :meth:`mcmc_sweep` (approximate exchange's
        auxiliary draws, Monte Carlo MLE's reference chains; contrastive divergence's few
        sweeps are checkerboard ones whatever it is, :meth:`local_mcmc_run`):
        ``"gibbs"`` (one checkerboard sweep), ``"swendsen_wang"`` (one Swendsen–Wang
        cluster update, then one checkerboard sweep; :mod:`bayesgen.samplers.swendsen_wang`)
        or ``"auto"``: Swendsen–Wang for the model with a field on a lattice without an
        exact sampler, Gibbs otherwise. Near the critical coupling the magnetisation, the
        field's statistic, is single-site Gibbs's slowest mode: on 100 lattices of 16 x 16
        at β = 0.4 its lag correlation was 0.76 after 16 sweeps and 0.54 after 32 (the bond
        sum's 0.15 and 0.03), against 0.08 for the bond sum and 0.00 for the magnetisation
        after 4 cluster updates, each costing about 8 sweeps. The zero-field model's only
        statistic is the bond sum, which Gibbs decorrelates at about the clusters' cost
        (32 x 32 at β = 0.42: 80 sweeps, 37 ms, against 8 updates, 41 ms;
        ``benchmarks/cluster_kernel.py``), so it keeps the simpler kernel. Where the model
        samples exactly, the kernel only serves short runs from the data, which the
        cheaper sweep does.

    Example:
      >>> import jax, bayesgen as bg
      >>> model = bg.models.Ising(shape=(4, 4))
      >>> model.normalizer
      'exact: enumeration'
      >>> x = model.sample(jax.random.key(0), {"beta": 0.3, "h": 0.05}, 100)
      >>> x.shape
      (100, 4, 4)
    """

    name = "ising"

    def __init__(
        self,
        shape: tuple[int, int] = (4, 4),
        *,
        field: bool = True,
        normalizer: str = "auto",
        kernel: str = "auto",
    ):
        super().__init__()
        try:
            if any(int(s) != s for s in shape):
                raise ValueError
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise ParameterError(
                f"Ising shape must be two integers (L, M); got {shape!r}"
            ) from None
        if len(shape) != 2 or min(shape) < 2:
            raise ParameterError(f"Ising shape must be (L, M) with L, M >= 2; got {shape}")
        if normalizer not in NORMALIZERS:
            raise MethodError(f"unknown normalizer {normalizer!r}; choose one of {NORMALIZERS}")
        if not isinstance(field, bool):
            raise ParameterError(f"Ising field must be True or False; got {field!r}")
        if kernel not in KERNELS:
            raise MethodError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")
        self.shape = shape
        self.field = field
        self.n_sites = shape[0] * shape[1]
        self.support = Spins(shape)
        self.params_spec = (
            ParamSpec(
                "beta",
                (),
                constraints.real,
                dist.Normal(0.0, 1.0),
                "coupling between bonded neighbours",
            ),
        )
        if field:
            self.params_spec += (
                ParamSpec("h", (), constraints.real, dist.Normal(0.0, 1.0), "external field"),
            )
        self._strategy = self._choose_normalizer(normalizer)
        self.normalizer = {
            "enumeration": "exact: enumeration",
            "transfer_matrix": "exact: transfer matrix",
            "kaufman": "exact: Kaufman's closed form (zero field, torus)",
            None: None,
        }[self._strategy]
        if self.n_sites <= MAX_TABULATED_SITES:
            self._sampling = "enumeration"
        elif min(shape) <= MAX_WIDTH and transfer_matrix_sampling_cost(shape) <= MAX_TM_SAMPLING:
            self._sampling = "transfer_matrix"
        else:
            self._sampling = "gibbs"
        self.sampler = {
            "enumeration": "exact: enumeration",
            "transfer_matrix": "exact: transfer matrix, row by row",
            "gibbs": "approximate: checkerboard Gibbs, one chain per datum, 1000 sweeps",
        }[self._sampling]
        self.has_exact_sampler = self._sampling != "gibbs"
        self._auto_kernel = "swendsen_wang" if field and self._sampling == "gibbs" else "gibbs"
        self.kernel = self._auto_kernel if kernel == "auto" else kernel

    @property
    def default_truth(self) -> dict:
        """The parameters the CLI simulates from when ``--truth`` is not given."""
        return {"beta": 0.3, "h": 0.05} if self.field else {"beta": 0.3}

    def _h(self, params):
        """The field: ``params["h"]``, or 0 for the zero-field model."""
        return params["h"] if self.field else jnp.zeros_like(params["beta"])

    @classmethod
    def from_shape(cls, shape: tuple[int, ...], *, field: bool = True) -> Ising:
        """The CLI's constructor: ``--shape 4x4``."""
        if len(shape) != 2:
            raise ParameterError(f"ising takes a shape LxM, e.g. 4x4; got {shape}")
        return cls(shape, field=field)

    @classmethod
    def from_cli(cls, shape, truth_names=()) -> Ising:
        """``--truth`` naming ``beta`` alone is the zero-field model (Kaufman's log Z)."""
        field = not truth_names or "h" in truth_names
        return cls(field=field) if shape is None else cls.from_shape(shape, field=field)

    def _choose_normalizer(self, requested: str) -> str | None:
        width, rows = min(self.shape), max(self.shape)
        even = all(side % 2 == 0 for side in self.shape)
        if requested == "kaufman" and (self.field or not even):
            raise MethodError(
                "Kaufman's closed form is the zero-field model on a torus with even sides: use "
                f"Ising({self.shape}, field=False) with both sides even"
            )
        if requested == "kaufman" or (requested == "auto" and not self.field and even):
            if requested == "auto" and self.n_sites <= MAX_TABULATED_SITES:
                return "enumeration"  # tabulated: as cheap, and exact to rounding
            return "kaufman"
        can_enumerate = self.n_sites <= MAX_ENUMERATION_SITES
        can_transfer = width <= MAX_WIDTH
        if requested == "enumeration" and not can_enumerate:
            raise MethodError(
                f"enumeration covers at most {MAX_ENUMERATION_SITES} spins; {self.shape} has "
                f"{self.n_sites}. Use normalizer='transfer_matrix' (narrower side <= {MAX_WIDTH})"
            )
        if requested == "transfer_matrix" and not can_transfer:
            raise MethodError(
                f"the transfer matrix needs the narrower side <= {MAX_WIDTH}; {self.shape} is "
                f"{width} wide"
            )
        if requested != "auto":
            return requested
        if self.n_sites <= MAX_TABULATED_SITES:
            return "enumeration"  # by the density of states: a few hundred terms per call
        cost_enumeration = 2**self.n_sites * self.n_sites if can_enumerate else float("inf")
        cost_transfer = 2 * rows * width * 4**width if can_transfer else float("inf")
        if cost_enumeration == cost_transfer == float("inf"):
            return None
        return "enumeration" if cost_enumeration <= cost_transfer else "transfer_matrix"

    def _intractable_reason(self) -> str:
        zero_field = (
            "; with h = 0 and both sides even, Ising(shape, field=False) has Kaufman's closed form"
        )
        return (
            f"Ising {self.shape[0]}x{self.shape[1]} has no exact log normaliser: enumeration "
            f"covers at most {MAX_ENUMERATION_SITES} spins and the transfer matrix a narrower "
            f"side of at most {MAX_WIDTH}. Use a method that avoids Z (pseudo_likelihood, "
            "contrastive_divergence, ratio_matching, exchange, pseudo_posterior) or estimate "
            "log Z by annealed importance sampling" + (zero_field if self.field else "")
        )

    def __repr__(self) -> str:
        options = ("" if self.field else ", field=False") + (
            f", kernel={self.kernel!r}" if self.kernel != self._auto_kernel else ""
        )
        return f"Ising(shape={self.shape}{options})"

    # -- the density -------------------------------------------------------------------
    @staticmethod
    def sufficient_statistics(x: jax.Array) -> jax.Array:
        """T(s) = (Σ_<ij> s_i s_j, Σ_i s_i) for one configuration of shape ``(L, M)``."""
        bonds = jnp.sum(x * (jnp.roll(x, -1, axis=0) + jnp.roll(x, -1, axis=1)))
        return jnp.stack([bonds, jnp.sum(x)])

    def log_f(self, params, x):
        t = self.sufficient_statistics(x)
        return params["beta"] * t[0] + self._h(params) * t[1]

    @property
    def statistic_names(self) -> tuple[str, ...]:
        return ("bonds", "magnetisation") if self.field else ("bonds",)

    def statistics(self, x: jax.Array) -> jax.Array:
        """The sufficient statistics T(s) (the bond sum alone for the zero-field model); see
        :meth:`sufficient_statistics`."""
        t = self.sufficient_statistics(x)
        return t if self.field else t[:1]

    exponential_family = True

    def natural_parameters(self, params) -> jax.Array:
        """θ itself: (β, h), or (β,) for the zero-field model."""
        return jnp.stack([params["beta"], params["h"]] if self.field else [params["beta"]])

    def expected_statistics(self, params) -> jax.Array:
        """E_θ[T] = ∇_θ log Z(θ), exact (θ = (β, h) is the natural parameter)."""
        params = self.check_params(params)
        grad = jax.grad(self.log_z)(params)
        return jnp.stack([grad[name] for name in self.param_names])

    def with_normalizer(self, normalizer: str) -> Ising:
        """The same model with log Z computed by ``normalizer`` (see the constructor)."""
        new = Ising(self.shape, field=self.field, normalizer=normalizer, kernel=self.kernel)
        new._prior_overrides = dict(self._prior_overrides)
        return new

    def log_conditionals(self, params, x):
        """log p(s_i | s_-i) = -softplus(-2 s_i η_i), η_i = β Σ_{j ~ i} s_j + h (Besag 1975)."""
        neighbours = jnp.roll(x, 1, 0) + jnp.roll(x, -1, 0) + jnp.roll(x, 1, 1) + jnp.roll(x, -1, 1)
        eta = params["beta"] * neighbours + self._h(params)
        return -jax.nn.softplus(-2.0 * x * eta)

    def conditional_classes(self, data):
        """The data's sites counted by (spin, neighbour sum), the pair that fixes the site's
        conditional: 2 x 9 classes (sums -4..4). Returns ``(counts (18,), (spins, sums))``."""
        axes = (data.ndim - 2, data.ndim - 1)
        neighbours = sum(jnp.roll(data, shift, axis) for axis in axes for shift in (1, -1))
        index = (9 * (data > 0) + jnp.rint(neighbours).astype(jnp.int32) + 4).ravel()
        counts = jnp.zeros(18, data.dtype).at[index].add(1.0)
        spins = jnp.repeat(jnp.array([-1.0, 1.0], data.dtype), 9)
        sums = jnp.tile(jnp.arange(-4.0, 5.0, dtype=data.dtype), 2)
        return counts, (spins, sums)

    def class_log_conditionals(self, params, classes):
        """log p(s_i | s_-i) of each class of :meth:`conditional_classes`."""
        spins, sums = classes
        return -jax.nn.softplus(-2.0 * spins * (params["beta"] * sums + self._h(params)))

    @property
    def mcmc_kernel(self) -> str:
        return {
            "gibbs": "checkerboard Gibbs",
            "swendsen_wang": "Swendsen-Wang clusters + checkerboard Gibbs",
        }[self.kernel]

    def mcmc_sweep(self, key, params, x, *, step_size=None):
        """One sweep of the model's kernel: a checkerboard Gibbs sweep (every site once,
        from its exact conditional), after a Swendsen–Wang update with
        ``kernel="swendsen_wang"``."""
        return self.mcmc_run(key, params, x, 1)

    def mcmc_run(self, key, params, xs, num_sweeps, *, step_size=None):
        """``num_sweeps`` sweeps of every lattice of ``xs``, all chains in one loop
        (:func:`bayesgen.samplers.checkerboard.run`; with Swendsen–Wang, each sweep one
        cluster update and one checkerboard sweep)."""
        beta, h = params["beta"], self._h(params)
        if self.kernel == "gibbs":
            return checkerboard.run(key, xs, beta, h, num_sweeps)

        def one(i, s):
            k_cluster, k_sites = jax.random.split(jax.random.fold_in(key, i))
            return checkerboard.run(k_sites, swendsen_wang.sweep(k_cluster, s, beta, h), beta, h, 1)

        return jax.lax.fori_loop(0, num_sweeps, one, xs)

    local_mcmc_kernel = "checkerboard Gibbs"

    def local_mcmc_run(self, key, params, xs, num_sweeps, *, step_size=None):
        """Checkerboard sweeps whatever the kernel: contrastive divergence's few sweeps from
        the data need no cluster moves, and its bootstrap vmaps 100 refits, in which the
        labelling loop runs to the slowest lattice of the batch: CD on 16 x 16 with a
        field (n = 100, with its bootstrap) took 1,508 s with clusters on one core, 167 s
        with checkerboard sweeps on two."""
        return checkerboard.run(key, xs, params["beta"], self._h(params), num_sweeps)

    def annealed_run(self, key, params, xs, temperature, num_sweeps):
        """f_θ^t is the Ising model at (tβ, th): checkerboard sweeps there."""
        beta, h = temperature * params["beta"], temperature * self._h(params)
        return checkerboard.run(key, xs, beta, h, num_sweeps)

    def _flat_log_f(self, theta, s_flat):
        t = self.sufficient_statistics(s_flat.reshape(self.shape))
        return theta[0] * t[0] + theta[1] * t[1]

    def log_z(self, params):
        if self._strategy is None:
            raise IntractableNormalizerError(self._intractable_reason())
        if self._strategy == "kaufman":
            return self._kaufman_log_z(params["beta"])
        params = {"beta": params["beta"], "h": self._h(params)}
        if self._strategy == "enumeration" and self.n_sites <= MAX_TABULATED_SITES:
            # log Σ_T g(T) exp(θ·T) over the density of states: every configuration
            # counted, at the cost of the few hundred distinct sufficient statistics.
            stats, log_counts = self._states_by_statistics[:2]
            dtype = jnp.asarray(0.0).dtype
            theta = jnp.stack([params["beta"], params["h"]])
            return jax.nn.logsumexp(
                jnp.asarray(log_counts, dtype) + jnp.asarray(stats, dtype) @ theta
            )
        if self._strategy == "enumeration":
            theta = jnp.stack([params["beta"], params["h"]])
            return enumerate_log_normalizer(self._flat_log_f, theta, self.n_sites)
        return ising_transfer_matrix_log_z(params["beta"], params["h"], self.shape)

    def _kaufman_log_z(self, beta):
        """Kaufman's log Z at |β| (Z(-β) = Z(β) on a torus with even sides), and its Taylor
        expansion N log 2 + Var_0[T] β² / 2 below :data:`KAUFMAN_SMALL_BETA`, where the
        closed form divides 0 by 0. Var_0[T] sums the squared multiplicity of each bonded pair
        (a side of length 2 bonds each of its pairs twice)."""
        var0 = sum(self.n_sites * (2.0 if side == 2 else 1.0) for side in self.shape)
        small = jnp.abs(beta) < KAUFMAN_SMALL_BETA
        safe = jnp.where(small, KAUFMAN_SMALL_BETA, jnp.abs(beta))
        taylor = self.n_sites * jnp.log(2.0) + 0.5 * var0 * beta**2
        return jnp.where(small, taylor, ising_torus_log_z_kaufman(safe, self.shape))

    # -- simulation --------------------------------------------------------------------
    def draw(self, key, params, n, *, method: str = "auto", num_sweeps: int = 1000):
        """Exact where it is affordable: by enumeration up to 20 spins (inverse CDF in float64
        on the host; on the device in the default dtype when traced under jit/vmap), else
        row by row with the transfer matrix (narrower side <= 12 and rows x 4^width <= 2^26).
        Otherwise, or with ``method="gibbs"``, each datum is the last
        state of its own checkerboard Gibbs chain after ``num_sweeps`` sweeps from a uniform
        random start: approximate, and biased below the critical temperature, where chains
        rarely cross between the two magnetised phases.
        """
        if method not in ("auto", "exact", "gibbs"):
            raise MethodError(f"unknown sampling method {method!r}; use 'auto', 'exact' or 'gibbs'")
        params = {"beta": params["beta"], "h": self._h(params)}
        if method == "exact" and self._sampling == "gibbs":
            raise MethodError(
                f"exact sampling of {self.shape} is out of reach (more than "
                f"{MAX_TABULATED_SITES} spins and a transfer matrix too large). "
                "Use method='gibbs'"
            )
        if method == "gibbs" or self._sampling == "gibbs":
            draws = checkerboard.sample(
                key,
                params["beta"],
                params["h"],
                self.shape,
                num_chains=n,
                num_samples=1,
                burn_in=int(num_sweeps),
            )
            return draws[:, 0]
        if self._sampling == "transfer_matrix":
            return ising_transfer_matrix_sample(key, params["beta"], params["h"], self.shape, n)
        # Exact by enumeration, grouped by the sufficient statistics: a class (T1, T2) is
        # drawn with probability g(T) exp(θ·T) / Z, then a configuration uniformly inside it.
        stats, log_counts, start, counts, order = self._states_by_statistics
        if any(isinstance(a, jax.core.Tracer) for a in (params["beta"], params["h"], key)):
            k_class, k_within = jax.random.split(key)
            c = self._draw_classes(k_class, params, n)
            v = jax.random.uniform(k_within, (n,), dtype=jnp.asarray(0.0).dtype)
        else:  # concrete: inverse CDF in float64 with 64 random bits, whatever the JAX dtype
            theta = np.array([float(params["beta"]), float(params["h"])])
            log_w = log_counts + stats @ theta
            cdf = np.cumsum(np.exp(log_w - log_w.max()))
            bits = np.asarray(jax.random.bits(key, (n, 4), jnp.uint32), dtype=np.float64)
            u = (bits[:, 0] + bits[:, 1] / 2.0**32) / 2.0**32 * cdf[-1]
            v = (bits[:, 2] + bits[:, 3] / 2.0**32) / 2.0**32
            c = np.minimum(np.searchsorted(cdf, u, side="right"), cdf.size - 1)
        size = jnp.asarray(counts)[c]
        within = jnp.minimum(jnp.floor(v * size).astype(jnp.int32), size - 1)
        idx = jnp.asarray(order)[jnp.asarray(start)[c] + within]
        return binary_configurations(idx, self.n_sites).reshape(n, *self.shape)

    def _draw_classes(self, key, params, n):
        """``n`` classes of the density of states, each with probability g(T) exp(θ·T) / Z
        (on the device, in the default dtype)."""
        stats, log_counts = self._states_by_statistics[:2]
        dtype = jnp.asarray(0.0).dtype
        theta = jnp.stack([params["beta"], params["h"]])
        log_w = jnp.asarray(log_counts, dtype) + jnp.asarray(stats, dtype) @ theta
        cdf = jnp.cumsum(jnp.exp(log_w - log_w.max()))
        u = jax.random.uniform(key, (n,), dtype=cdf.dtype) * cdf[-1]
        return jnp.minimum(jnp.searchsorted(cdf, u, side="right"), cdf.size - 1)

    def sample_statistics(self, key, params, n):
        """Σ_i T(w_i) over ``sample(key, params, n)``'s draws where the key or the parameters
        are traced; by enumeration the classes alone are drawn (the statistics of ``n``
        draws without the draws)."""
        if self._sampling != "enumeration":
            return super().sample_statistics(key, params, n)
        params = self.check_params(params)
        params = {"beta": params["beta"], "h": self._h(params)}
        c = self._draw_classes(jax.random.split(key)[0], params, n)
        total = jnp.asarray(self._states_by_statistics[0], jnp.asarray(0.0).dtype)[c].sum(0)
        return total if self.field else total[:1]

    @functools.cached_property
    def _states_by_statistics(self):
        """Every configuration grouped by its sufficient statistics (the density of states):
        per class, T (float), log g(T), the class's first position in ``order`` and its
        size; ``order`` lists configuration indices class by class."""
        index = np.arange(2**self.n_sites, dtype=np.int64)
        spins = (((index[:, None] >> np.arange(self.n_sites)) & 1) * 2 - 1).astype(np.int8)
        spins = spins.reshape(-1, *self.shape)
        bonds = np.sum(spins * (np.roll(spins, -1, 1) + np.roll(spins, -1, 2)), axis=(1, 2))
        magnetisation = spins.sum(axis=(1, 2), dtype=np.int64)
        del spins
        span = 2 * self.n_sites + 1  # |magnetisation| <= n_sites
        code = (bonds.astype(np.int64) + 2 * self.n_sites) * span + magnetisation + self.n_sites
        codes, label, counts = np.unique(code, return_inverse=True, return_counts=True)
        classes = np.stack([codes // span - 2 * self.n_sites, codes % span - self.n_sites], 1)
        order = np.argsort(label.ravel(), kind="stable").astype(np.int32)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        return classes.astype(np.float64), np.log(counts), start, counts.astype(np.int32), order
