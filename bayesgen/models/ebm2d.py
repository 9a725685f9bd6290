"""Continuous energy-based models in one and two dimensions, with log Z by quadrature.

Two energies:

* ``"quartic"``: a polynomial exponential family, a double well when the quadratic
  coefficient is positive. In 1-D, log f(x) = -a x⁴ + θ₁ x + θ₂ x²; in 2-D,
  log f(x) = -a (x₁⁴ + x₂⁴) + θ · (x₁, x₂, x₁², x₁x₂, x₂²), with ``a`` > 0 and ``theta``.
* ``"mlp"`` (2-D): a neural energy, log f(x) = w₃ᵀ tanh(W₂ᵀ tanh(W₁ᵀx + b₁) + b₂) -
  ‖x‖²/(2 s²), a two-layer tanh network on a Gaussian base of scale s = BASE_SCALE: the
  network is bounded by Σ|w₃|, so every parameter value is normalisable. Parameters ``w1``
  (2, H), ``b1`` (H,), ``w2`` (H, H), ``b2`` (H,), ``w3`` (H,).

log Z is the trapezoid rule on a grid of ``grid`` + 1 nodes per axis over [-L, L]^d:
spectrally accurate for smooth densities that vanish at the box's edge, and
differentiable, so exact MLE and NUTS use it like any exact normaliser.
:meth:`EBM2D.quadrature` also returns an error estimate: the change from the grid of every
other node (which bounds the fine grid's error when the rule has converged), plus, for the
MLP, a rigorous bound on the mass outside the box (e^{Σ|w₃|} times the Gaussian base's
mass there) and, for the quartic, the mass the grid puts in its outermost cells.

A flexible energy fitted by exact MLE can exploit a grid too coarse for it: on 193² nodes,
1,000 L-BFGS steps on two moons found network weights whose log Z there is 72 and on a grid
twice as fine 463 (spikes between the nodes, which the coarser grid of the error estimate
cannot see either); on the default 257² grid the same fits held to 1e-3. Check a fit's
log Z on a finer grid (``EBM2D(..., grid=2 * grid).log_normalizer``).

Data are drawn from the quadrature grid (a cell with probability proportional to f at its
node, then uniform within the cell): approximate at the grid's resolution, as
:attr:`sampler` says. The data-space Markov kernel is HMC (:mod:`bayesgen.samplers.hmc`).

:func:`toy_data` makes the 2-D toy sets the neural EBM is trained on: two moons, rings, a
Gaussian mixture.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from bayesgen.errors import ParameterError
from bayesgen.model import Model, ParamSpec
from bayesgen.optimizers import adam_cosine
from bayesgen.samplers import hmc, tabulated
from bayesgen.support import Reals

__all__ = ["BASE_SCALE", "EBM2D", "TOY_DATA", "TOY_NOISE", "toy_data", "two_moons_component"]

BASE_SCALE = 2.0  # s: the MLP energy's Gaussian base, log f ⊃ -‖x‖²/(2 s²)
ENERGIES = ("mlp", "quartic")
HMC_LEAPFROG = 5


class EBM2D(Model):
    """A low-dimensional energy-based model with log Z by quadrature.

    Args:
      energy: ``"mlp"`` (2-D neural energy) or ``"quartic"`` (polynomial family).
      dim: 1 or 2 for the quartic; 2 for the MLP.
      hidden: hidden units per layer of the MLP.
      grid: quadrature cells per axis (the grid has ``grid`` + 1 nodes per axis).
      box: the half-width L of the quadrature box (default: 6 BASE_SCALE for the MLP, 4
        for the quartic).

    Default priors: every network weight Normal(0, 1); ``a ~ LogNormal(0, 1)``,
    ``theta ~ Normal(0, 3)``.
    """

    name = "ebm2d"
    plots_densities = True  # `bayesgen compare --plot` draws the fitted densities
    mcmc_kernel = f"HMC ({HMC_LEAPFROG} leapfrog steps)"

    def __init__(
        self,
        energy: str = "mlp",
        dim: int = 2,
        *,
        hidden: int = 16,
        grid: int = 256,
        box: float | None = None,
    ):
        super().__init__()
        if energy not in ENERGIES:
            raise ParameterError(f"EBM2D energy must be one of {ENERGIES}; got {energy!r}")
        if dim not in (1, 2) or (energy == "mlp" and dim != 2):
            raise ParameterError(
                f"EBM2D: the quartic energy takes dim 1 or 2, the MLP dim 2; got {dim!r}"
            )
        if int(grid) != grid or grid < 8 or grid % 2:
            raise ParameterError(f"EBM2D grid must be an even integer >= 8; got {grid!r}")
        self.energy, self.dim, self.hidden, self.grid = energy, int(dim), int(hidden), int(grid)
        self.box = float(box) if box is not None else (6.0 * BASE_SCALE if energy == "mlp" else 4.0)
        self.support = Reals((self.dim,))
        nodes = self.grid + 1
        self.normalizer = (
            f"quadrature: trapezoid rule, {nodes}^{self.dim} nodes on [-{self.box:g}, "
            f"{self.box:g}]^{self.dim}"
        )
        self.sampler = "approximate: a quadrature cell drawn by f, then uniform within it"
        if energy == "quartic":
            k = 2 if dim == 1 else 5
            self.params_spec = (
                ParamSpec("a", (), constraints.positive, dist.LogNormal(0.0, 1.0), "quartic"),
                ParamSpec(
                    "theta",
                    (k,),
                    constraints.real_vector,
                    dist.Normal(jnp.zeros(k), 3.0).to_event(1),
                    "linear and quadratic coefficients",
                ),
            )
        else:
            h = self.hidden
            shapes = {"w1": (2, h), "b1": (h,), "w2": (h, h), "b2": (h,), "w3": (h,)}
            self.params_spec = tuple(
                ParamSpec(
                    name,
                    shape,
                    constraints.independent(constraints.real, len(shape)),
                    dist.Normal(jnp.zeros(shape), 1.0).to_event(len(shape)),
                    f"network {'weights' if name[0] == 'w' else 'biases'}, layer {name[1]}",
                )
                for name, shape in shapes.items()
            )

    @property
    def default_methods(self) -> list | None:
        """What ``bg.compare`` runs when no methods are named. For the quartic, every
        applicable method (None). For the network, the frequentist fits, each configured for
        it (measured on two moons; ``tests/models/test_ebm2d.py`` and notebook 02):

        * exact MLE and NCE with L-BFGS, 1,000 and 300 steps;
        * contrastive divergence: Adam, 1,000 steps of HMC-1 negatives;
        * denoising score matching (L-BFGS, 300 steps) with noise of 0.1 data sd and 4
          antithetic pairs per datum (at 0.05 sd and one pair it fits its own noise draws,
          and its held-out log-likelihood falls as it trains);
        * score matching with Kingma & LeCun's curvature penalty λ = 0.003 (the plain
          objective is unbounded below for a network), Adam from 0.01 with a cosine decay
          over its steps (2,000 unless the fit says otherwise).

        NUTS over the weights, with a quadrature log Z per gradient, would take hours.
        """
        if self.energy != "mlp":
            return None
        # (alias, options) pairs: the zoo configures fits without importing a side
        return [
            ("exact_mle", {"num_steps": 1000}),
            ("nce", {"num_steps": 300}),
            "contrastive_divergence",
            (
                "denoising_score_matching",
                {"noise_scale": 0.1, "num_noise": 4, "num_steps": 300},
            ),
            (
                "score_matching",
                {"curvature_penalty": 0.003, "num_steps": 2000, "optimizer": ADAM_001},
            ),
        ]

    def __repr__(self) -> str:
        if self.energy == "mlp":
            return f"EBM2D(energy='mlp', hidden={self.hidden})"
        return f"EBM2D(energy='quartic', dim={self.dim})"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> EBM2D:
        """The CLI's constructor: ``--shape H`` is an MLP energy with H hidden units."""
        if len(shape) != 1:
            raise ParameterError(f"ebm2d takes a shape H (hidden units), e.g. 16; got {shape}")
        return cls("mlp", hidden=shape[0])

    @property
    def default_truth(self) -> dict:
        """A double well (quartic), or a fixed network with a few modes (MLP)."""
        if self.energy == "quartic":
            theta = [0.3, 2.0] if self.dim == 1 else [0.3, 0.0, 2.0, 0.5, -0.5]
            return {"a": jnp.asarray(1.0), "theta": jnp.asarray(theta)}
        return self._network_init(jax.random.key(1), scale=2.0)

    def initial_params(self) -> dict:
        """Quartic: a = 1, θ = 0. MLP: small fixed random weights (at zero every hidden unit
        gets the same gradient and they never separate)."""
        if self.energy == "quartic":
            k = self.params_spec[1].shape[0]
            return {"a": jnp.asarray(1.0), "theta": jnp.zeros(k)}
        return self._network_init(jax.random.key(0), scale=1.0)

    def _network_init(self, key, scale):
        h = self.hidden
        k1, k2, k3 = jax.random.split(key, 3)
        return {
            "w1": scale * jax.random.normal(k1, (2, h)) / math.sqrt(2.0),
            "b1": jnp.zeros(h),
            "w2": scale * jax.random.normal(k2, (h, h)) / math.sqrt(h),
            "b2": jnp.zeros(h),
            "w3": scale * jax.random.normal(k3, (h,)) / math.sqrt(h),
        }

    # -- densities ---------------------------------------------------------------------
    def log_f(self, params, x):
        if self.energy == "quartic":
            if self.dim == 1:
                features = jnp.stack([x[0], x[0] ** 2])
            else:
                features = jnp.stack([x[0], x[1], x[0] ** 2, x[0] * x[1], x[1] ** 2])
            return -params["a"] * jnp.sum(x**4) + jnp.dot(params["theta"], features)
        hidden = jnp.tanh(x @ params["w1"] + params["b1"])
        hidden = jnp.tanh(hidden @ params["w2"] + params["b2"])
        return jnp.dot(params["w3"], hidden) - 0.5 * jnp.sum(x * x) / BASE_SCALE**2

    def _nodes(self, dtype):
        """The quadrature nodes (``(grid + 1)^dim``, dim) and the spacing h."""
        axis = jnp.linspace(-self.box, self.box, self.grid + 1, dtype=dtype)
        mesh = jnp.meshgrid(*([axis] * self.dim), indexing="ij")
        return jnp.stack([m.reshape(-1) for m in mesh], axis=1), 2.0 * self.box / self.grid

    def _log_f_grid(self, params):
        dtype = jnp.result_type(*jax.tree.leaves(params))
        nodes, h = self._nodes(dtype)
        log_f = jax.vmap(self.log_f, (None, 0))(params, nodes)
        return log_f.reshape((self.grid + 1,) * self.dim), h

    def _trapezoid(self, log_f, h):
        """log of the trapezoid sum of exp(log_f) on a grid of spacing h (the edge nodes'
        half weights dropped: f is negligible there)."""
        return self.dim * math.log(h) + jax.nn.logsumexp(log_f)

    def log_z(self, params):
        return self._trapezoid(*self._log_f_grid(params))

    def quadrature(self, params) -> tuple[jax.Array, jax.Array]:
        """``(log Z, error estimate)``; see the module docstring for what the estimate adds."""
        params = self.check_params(params)
        log_f, h = self._log_f_grid(params)
        log_z = self._trapezoid(log_f, h)
        coarse = log_f[(slice(None, None, 2),) * self.dim]
        error = jnp.abs(log_z - self._trapezoid(coarse, 2.0 * h))
        if self.energy == "mlp":
            s, d = BASE_SCALE, self.dim
            log_outside = (
                jnp.sum(jnp.abs(params["w3"]))
                + 0.5 * d * math.log(2 * math.pi * s * s)
                + math.log(2 * d)
                + jax.scipy.stats.norm.logcdf(-self.box / s)
            )
            return log_z, error + jnp.exp(log_outside - log_z)
        edge = jnp.ones_like(log_f, bool).at[(slice(1, -1),) * self.dim].set(False)
        edge_mass = jnp.exp(self._trapezoid(jnp.where(edge, log_f, -jnp.inf), h) - log_z)
        return log_z, error + edge_mass

    def region_masses(self, params, label, num_regions: int) -> jax.Array:
        """The model's probability of each of ``num_regions`` regions of the plane, by the
        quadrature grid: ``label`` maps points (shape (m, dim)) to region indices 0 ..
        num_regions - 1 (e.g. :func:`two_moons_component`). Sums to 1."""
        log_f, _ = self._log_f_grid(self.check_params(params))
        nodes, _ = self._nodes(log_f.dtype)
        weights = jax.nn.softmax(log_f.reshape(-1))
        return jnp.zeros(num_regions, weights.dtype).at[label(nodes)].add(weights)

    # -- simulation --------------------------------------------------------------------
    def draw(self, key, params, n):
        log_f, h = self._log_f_grid(params)
        nodes, _ = self._nodes(log_f.dtype)
        k_cell, k_jitter = jax.random.split(key)
        cell = tabulated.draw_indices(k_cell, log_f, n)
        jitter = jax.random.uniform(k_jitter, (n, self.dim), log_f.dtype, -0.5, 0.5)
        return nodes[cell] + h * jitter

    def mcmc_sweep(self, key, params, x, *, step_size=0.1):
        """One HMC transition (HMC_LEAPFROG leapfrog steps of ``step_size``)."""

        def log_f(v):
            return self.log_f(params, v)

        return hmc.step(key, log_f, x, step_size, HMC_LEAPFROG)


MOON_RADIUS = 1.6  # two moons: half circles of this radius,
MOON_CENTRES = ((-0.8, -0.4), (0.8, 0.4))  # the upper (y >= its centre's) and the lower


# Adam from 0.01, cosine decay over the fit's steps (one object: fits share compiled code)
ADAM_001 = functools.partial(adam_cosine, 0.01)


def _two_moons(key, n, noise):
    k_side, k_angle, k_noise = jax.random.split(key, 3)
    upper = jax.random.bernoulli(k_side, 0.5, (n,))
    t = jax.random.uniform(k_angle, (n,)) * math.pi
    centre = jnp.where(upper[:, None], jnp.asarray(MOON_CENTRES[0]), jnp.asarray(MOON_CENTRES[1]))
    sign = jnp.where(upper, 1.0, -1.0)[:, None]
    pts = centre + sign * MOON_RADIUS * jnp.stack([jnp.cos(t), jnp.sin(t)], 1)
    return pts + noise * jax.random.normal(k_noise, pts.shape)


def _rings(key, n, noise):
    k_ring, k_angle, k_noise = jax.random.split(key, 3)
    radius = jnp.where(jax.random.bernoulli(k_ring, 0.5, (n,)), 1.0, 2.0)
    t = jax.random.uniform(k_angle, (n,)) * 2 * math.pi
    pts = jnp.stack([radius * jnp.cos(t), radius * jnp.sin(t)], 1)
    return pts + noise * jax.random.normal(k_noise, pts.shape)


def _gaussian_mixture(key, n, noise):
    k_comp, k_noise = jax.random.split(key)
    angles = jnp.arange(8) * (2 * math.pi / 8)
    centres = 2.0 * jnp.stack([jnp.cos(angles), jnp.sin(angles)], 1)
    comp = jax.random.randint(k_comp, (n,), 0, 8)
    return centres[comp] + 2.0 * noise * jax.random.normal(k_noise, (n, 2))


def two_moons_component(x) -> jax.Array:
    """Which moon each point of ``x`` (shape (n, 2)) is nearer: 0 the upper, 1 the lower.

    The distance to a half circle is | |x - c| - r | where the direction from the centre c
    lies in the half circle's half-plane, else the distance to the nearer end point. Used to
    split a fitted density's mass between the moons (score-based fits see each moon's shape
    but barely their relative weight)."""
    x = jnp.asarray(x, jnp.result_type(float))  # integer points are points too

    def distance(centre, sign):
        v = x - jnp.asarray(centre, x.dtype)
        on_arc = sign * v[:, 1] >= 0
        to_arc = jnp.abs(jnp.linalg.norm(v, axis=1) - MOON_RADIUS)
        ends = jnp.abs(v[:, 0:1] - jnp.array([-MOON_RADIUS, MOON_RADIUS], x.dtype))
        to_end = jnp.sqrt(jnp.min(ends, axis=1) ** 2 + v[:, 1] ** 2)
        return jnp.where(on_arc, to_arc, to_end)

    upper, lower = (distance(c, s) for c, s in zip(MOON_CENTRES, (1.0, -1.0), strict=True))
    return (lower < upper).astype(jnp.int32)


TOY_DATA = {"two_moons": _two_moons, "rings": _rings, "gaussian_mixture": _gaussian_mixture}


TOY_NOISE = 0.1  # the toy sets' default Gaussian noise (a moon's cross-section sd)


def toy_data(name: str, key, n: int, noise: float = TOY_NOISE) -> jax.Array:
    """``n`` points of a 2-D toy set: ``"two_moons"``, ``"rings"`` (radii 1 and 2) or
    ``"gaussian_mixture"`` (8 components on a circle of radius 2), with Gaussian ``noise``."""
    if name not in TOY_DATA:
        raise ParameterError(f"unknown toy data {name!r}; choose one of {sorted(TOY_DATA)}")
    return TOY_DATA[name](key, int(n), noise).astype(jnp.asarray(0.0).dtype)
