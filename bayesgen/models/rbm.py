"""The Bernoulli restricted Boltzmann machine, written as the unnormalised law of its
visible units.

With visible units v ∈ {0,1}^V, hidden units h ∈ {0,1}^H and energy
-E(v, h) = bᵀv + cᵀh + vᵀWh, summing out h gives

    log f_θ(v) = bᵀv + Σ_j softplus(c_j + (vᵀW)_j),
    log Z(θ)   = log Σ_h exp(cᵀh + Σ_i softplus(b_i + (Wh)_i))    (or Σ_v f_θ(v)),

exact by enumerating the smaller layer (up to MAX_EXACT_UNITS = 20 units in it:
:func:`bayesgen.normalizers.enumerate_log_normalizer`, in chunks). Exact sampling
enumerates the smaller layer's marginal, draws it, then the other layer given it; the data-
space Markov kernel (contrastive divergence, approximate exchange) is block Gibbs, all
hidden units given the visible ones and back. Larger machines have neither: log Z is
intractable, sampling is by block Gibbs.

References: P. Smolensky (1986); G. E. Hinton (2002), Training products of experts by
minimizing contrastive divergence, Neural Computation 14; T. Tieleman (2008), Training
restricted Boltzmann machines using approximations to the likelihood gradient, ICML;
R. Salakhutdinov, I. Murray (2008), On the quantitative analysis of deep belief networks,
ICML (AIS for RBMs).
"""

from __future__ import annotations

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
)
from bayesgen.samplers import tabulated
from bayesgen.support import Binary

__all__ = ["MAX_EXACT_UNITS", "RBM"]

MAX_EXACT_UNITS = 20  # the smaller layer is enumerated (2^20 configurations) up to this size


class RBM(Model):
    """A Bernoulli RBM with ``n_visible`` data units and ``n_hidden`` latent units;
    parameters ``W`` (n_visible, n_hidden), ``b`` (n_visible,) and ``c`` (n_hidden,).

    Default priors: every weight and bias Normal(0, 1). Fits start from small fixed weights
    (at W = 0 every hidden unit gets the same gradient and they never separate).

    Example:
      >>> import jax, jax.numpy as jnp, bayesgen as bg
      >>> model = bg.models.RBM(6, 3)
      >>> zero = {"W": jnp.zeros((6, 3)), "b": jnp.zeros(6), "c": jnp.zeros(3)}
      >>> float(model.log_normalizer(zero)) / jnp.log(2.0)  # 2^(6 + 3) joint states
      Array(9., dtype=float64)
    """

    name = "rbm"
    mcmc_kernel = "block Gibbs (hidden given visible, then visible given hidden)"

    def __init__(self, n_visible: int = 8, n_hidden: int = 4):
        super().__init__()
        for label, k in (("n_visible", n_visible), ("n_hidden", n_hidden)):
            if int(k) != k or k < 1:
                raise ParameterError(f"RBM {label} must be a positive integer; got {k!r}")
        self.n_visible, self.n_hidden = v, h = int(n_visible), int(n_hidden)
        self.support = Binary((v,))
        self.exact = min(v, h) <= MAX_EXACT_UNITS
        smaller = "hidden" if h <= v else "visible"
        self.normalizer = (
            f"exact: enumeration of the {min(v, h)} {smaller} units" if self.exact else None
        )
        self.has_exact_sampler = self.exact
        self.sampler = (
            f"exact: enumeration of the {smaller} layer, then the other given it"
            if self.exact
            else "block Gibbs (approximate)"
        )
        self.params_spec = (
            ParamSpec(
                "W",
                (v, h),
                constraints.independent(constraints.real, 2),
                dist.Normal(jnp.zeros((v, h)), 1.0).to_event(2),
                "visible-hidden weights",
            ),
            ParamSpec(
                "b",
                (v,),
                constraints.real_vector,
                dist.Normal(jnp.zeros(v), 1.0).to_event(1),
                "visible biases",
            ),
            ParamSpec(
                "c",
                (h,),
                constraints.real_vector,
                dist.Normal(jnp.zeros(h), 1.0).to_event(1),
                "hidden biases",
            ),
        )

    def __repr__(self) -> str:
        return f"RBM(n_visible={self.n_visible}, n_hidden={self.n_hidden})"

    @classmethod
    def from_shape(cls, shape: tuple[int, ...]) -> RBM:
        """The CLI's constructor: ``--shape 8x4`` is 8 visible and 4 hidden units."""
        if len(shape) != 2:
            raise ParameterError(f"rbm takes a shape VxH (visible x hidden), e.g. 8x4; got {shape}")
        return cls(*shape)

    @property
    def default_truth(self) -> dict:
        """Fixed weights of size about 1 (a machine whose hidden units matter)."""
        v, h = self.n_visible, self.n_hidden
        i, j = np.meshgrid(np.arange(v), np.arange(h), indexing="ij")
        w = 1.5 * np.sin(1.0 + 1.7 * i + 2.1 * j)
        return {
            "W": jnp.asarray(w),
            "b": jnp.asarray(-0.5 * w.sum(1) / h),
            "c": jnp.asarray(0.3 * np.cos(np.arange(h))),
        }

    def initial_params(self) -> dict:
        w = 0.01 * jax.random.normal(jax.random.key(0), (self.n_visible, self.n_hidden))
        return {"W": w, "b": jnp.zeros(self.n_visible), "c": jnp.zeros(self.n_hidden)}

    # -- densities ---------------------------------------------------------------------
    def log_f(self, params, x):
        return jnp.dot(params["b"], x) + jnp.sum(jax.nn.softplus(params["c"] + x @ params["W"]))

    def _log_hidden_marginal(self, params, h):
        """log Σ_v exp(-E(v, h)) = cᵀh + Σ_i softplus(b_i + (Wh)_i)."""
        return jnp.dot(params["c"], h) + jnp.sum(jax.nn.softplus(params["b"] + params["W"] @ h))

    def _intractable_reason(self) -> str:
        return (
            f"{self!r}: both layers have more than {MAX_EXACT_UNITS} units, too many to "
            "enumerate; use contrastive_divergence, pseudo_likelihood or ratio_matching, or "
            "estimate log Z by annealed importance sampling"
        )

    def log_z(self, params):
        if self.n_hidden <= self.n_visible:
            return enumerate_log_normalizer(
                self._log_hidden_marginal, params, self.n_hidden, values=(0.0, 1.0)
            )
        return enumerate_log_normalizer(self.log_f, params, self.n_visible, values=(0.0, 1.0))

    # -- simulation --------------------------------------------------------------------
    def draw(self, key, params, n, num_sweeps: int = 1000):
        """Exact where the smaller layer can be enumerated; else ``num_sweeps`` block Gibbs
        sweeps from uniform bits (approximate, as :attr:`sampler` says)."""
        k_layer, k_other = jax.random.split(key)
        dtype = params["W"].dtype
        if not self.exact:
            start = jax.random.bernoulli(k_layer, 0.5, (n, self.n_visible)).astype(dtype)
            return self.mcmc_run(k_other, params, start, num_sweeps)
        small = min(self.n_visible, self.n_hidden)
        hidden_first = self.n_hidden <= self.n_visible
        log_w = self._log_hidden_marginal if hidden_first else self.log_f
        index = jnp.arange(2**small, dtype=jnp.int32)
        configs = binary_configurations(index, small, (0.0, 1.0)).astype(dtype)
        weights = jax.vmap(log_w, (None, 0))(params, configs)
        draws = configs[tabulated.draw_indices(k_layer, weights, n)]
        if not hidden_first:
            return draws
        logits = draws @ params["W"].T + params["b"]
        return jax.random.bernoulli(k_other, jax.nn.sigmoid(logits)).astype(dtype)

    @property
    def has_mcmc_kernel(self) -> bool:
        return True

    def mcmc_sweep(self, key, params, x, *, step_size=None):
        """One block Gibbs sweep: h ~ p(h | v), then v ~ p(v | h)."""
        k_h, k_v = jax.random.split(key)
        h = jax.random.bernoulli(k_h, jax.nn.sigmoid(params["c"] + x @ params["W"]))
        h = h.astype(x.dtype)
        v = jax.random.bernoulli(k_v, jax.nn.sigmoid(params["b"] + params["W"] @ h))
        return v.astype(x.dtype)
