"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010): log Z as a free parameter.

Each datum x_i is set against ``num_noise`` = ν draws y_ij from a known noise density p_n,
and the model is fitted as a logistic classifier of data against noise, with log-odds

    G(u) = log f_θ(u) - c - log p_n(u) - log ν,

where c is a free parameter. The per-datum loss is softplus(-G(x_i)) + Σ_j softplus(G(y_ij));
at the optimum c estimates log Z(θ̂) (reported as the nuisance parameter
``log_normalizer``), and θ̂ is consistent for any p_n that is positive where the data are.
The noise is fitted to the data once (state): a Gaussian with the data's mean and covariance
for real data; independent sites with the data's marginal frequencies (kept within
[0.05, 0.95]) for binary data; uniform on the sphere for unit vectors. The noise draws are
fixed per datum for the fit (common random numbers), so the objective is smooth and
deterministic (L-BFGS) and the sandwich covariance, over (θ, c) jointly, treats each datum
with its noise draws as one unit.

Reference: M. Gutmann, A. Hyvärinen (2010), Noise-contrastive estimation: a new estimation
principle for unnormalized statistical models, AISTATS.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from bayesgen.frequentist.base import Estimator, unsupported
from bayesgen.support import Reals, Sphere, sphere_log_area, uniform_unit_vectors


@dataclass(frozen=True)
class NCE(Estimator):
    """Noise-contrastive estimation with ``num_noise`` noise draws per datum."""

    num_noise: int = 10
    name = "nce"

    def describe_normalizer(self, model) -> str:
        if isinstance(model.support, Sphere):
            noise = "uniform"
        else:
            noise = "a Gaussian" if isinstance(model.support, Reals) else "independent sites"
        return (
            f"estimated: log Z as a free parameter, data against {self.num_noise} draws per "
            f"datum of {noise} noise fitted to the data"
        )

    def check(self, model) -> None:
        support = model.support
        if not (isinstance(support, Reals | Sphere) or support.two_valued):
            raise unsupported(
                self, model, f"it has no noise distribution for {model.support.name}", "exact_mle"
            )

    def nuisance_init(self, model, data) -> dict:
        return {"log_normalizer": jnp.zeros((), data.dtype)}

    def init_state(self, model, params, data, key):
        flat = data.reshape(data.shape[0], -1)
        if isinstance(model.support, Sphere):
            return ()
        if isinstance(model.support, Reals):
            mean = flat.mean(axis=0)
            cov = jnp.atleast_2d(jnp.cov(flat, rowvar=False))
            cov = cov + 1e-9 * jnp.trace(cov) / cov.shape[0] * jnp.eye(
                cov.shape[0], dtype=cov.dtype
            )
            return mean, jnp.linalg.cholesky(cov)
        b = model.support.values[1]
        p_b = jnp.clip(jnp.mean(flat == b, axis=0), 0.05, 0.95)
        return (p_b,)

    def _noise(self, model, state, key, shape):
        """``num_noise`` noise draws of event shape ``shape``."""
        if isinstance(model.support, Sphere):
            return uniform_unit_vectors(key, (self.num_noise, *shape))
        if isinstance(model.support, Reals):
            mean, chol = state
            z = jax.random.normal(key, (self.num_noise, mean.size), mean.dtype)
            return (mean + z @ chol.T).reshape(self.num_noise, *shape)
        (p_b,) = state
        a, b = model.support.values
        is_b = jax.random.uniform(key, (self.num_noise, p_b.size), p_b.dtype) < p_b
        return jnp.where(is_b, b, a).astype(p_b.dtype).reshape(self.num_noise, *shape)

    def _log_p_noise(self, model, state, x):
        flat = x.reshape(-1)
        if isinstance(model.support, Sphere):
            return jnp.asarray(-sphere_log_area(flat.size), flat.dtype)
        if isinstance(model.support, Reals):
            mean, chol = state
            z = jax.scipy.linalg.solve_triangular(chol, flat - mean, lower=True)
            log_det = jnp.sum(jnp.log(jnp.diag(chol)))
            return -0.5 * jnp.sum(z**2) - log_det - 0.5 * flat.size * jnp.log(2 * jnp.pi)
        (p_b,) = state
        b = model.support.values[1]
        return jnp.sum(jnp.where(flat == b, jnp.log(p_b), jnp.log1p(-p_b)))

    def per_datum_loss(self, model, params, x, key, state):
        log_nu = jnp.log(self.num_noise)
        c = params["log_normalizer"]
        g_data = (
            model._log_unnormalized(params, x) - c - self._log_p_noise(model, state, x) - log_nu
        )
        y = self._noise(model, state, key, x.shape)
        log_p_y = jax.vmap(self._log_p_noise, (None, None, 0))(model, state, y)
        log_f_y = model._log_unnormalized_batch(params, y)
        g_noise = log_f_y - c - log_p_y - log_nu
        return jax.nn.softplus(-g_data) + jnp.sum(jax.nn.softplus(g_noise))
