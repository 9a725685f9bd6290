"""Sandwich (Godambe) covariance for M-estimators.

For θ̂ = argmin (1/n) Σ_i ℓ(θ; x_i):

    Cov(θ̂) ≈ A⁻¹ B A⁻¹ / n,   A = ∇² (1/n) Σ_i ℓ(θ̂; x_i),   B = Cov_i[∇ℓ(θ̂; x_i)].

For exact MLE it reduces (asymptotically) to the inverse Fisher information; for
pseudo-likelihood it is what makes the intervals honest. Computed in the constrained
(natural) parameter space, flattened in the order of ``jax.flatten_util.ravel_pytree``.

Reference: V. P. Godambe (1960), An optimum property of regular maximum likelihood
estimation, Ann. Math. Statist. 31.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


def sandwich_covariance(estimator, model, params, data, key) -> jax.Array:
    """The ``(d, d)`` sandwich covariance of the flattened parameters (jit/vmap-able)."""
    flat, unravel = ravel_pytree(params)

    def per_datum(theta, x):
        return estimator.per_datum_loss(model, unravel(theta), x, key)

    grads = jax.vmap(jax.grad(per_datum), (None, 0))(flat, data)
    hess = jax.hessian(lambda t: jax.vmap(per_datum, (None, 0))(t, data).mean())(flat)
    centred = grads - grads.mean(axis=0)
    meat = centred.T @ centred / data.shape[0]
    bread = jnp.linalg.inv(hess)
    cov = bread @ meat @ bread.T / data.shape[0]
    return 0.5 * (cov + cov.T)


def flat_names(params) -> list[str]:
    """Names of the flattened parameters, in ``ravel_pytree`` order (sorted dict keys)."""
    names = []
    for name in sorted(params):
        shape = jnp.shape(params[name])
        if shape == ():
            names.append(name)
        else:
            names.extend(f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape))
    return names
