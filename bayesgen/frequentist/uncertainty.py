"""Sandwich (Godambe) covariance for M-estimators.

For θ̂ = argmin (1/n) Σ_i ℓ(θ; x_i):

    Cov(θ̂) ≈ A⁻¹ B A⁻¹ / n,   A = ∇² (1/n) Σ_i ℓ(θ̂; x_i),   B = Cov_i[∇ℓ(θ̂; x_i)].

For exact MLE it reduces (asymptotically) to the inverse Fisher information; for
pseudo-likelihood it is what makes the intervals honest. Computed in unconstrained
coordinates and mapped to the parameters' own space (flattened in the order of
``jax.flatten_util.ravel_pytree``) by the delta method.

Reference: V. P. Godambe (1960), An optimum property of regular maximum likelihood
estimation, Ann. Math. Statist. 31.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bayesgen.frequentist.base import constrain


def sandwich_covariance(estimator, model, u, data, key) -> jax.Array:
    """The ``(d, d)`` sandwich covariance of the flattened constrained parameters.

    Formed in the unconstrained coordinates ``u`` (where every parameter is identified: a
    symmetric matrix has d(d+1)/2 of them, not d²), then mapped to the parameters' own
    space by the delta method, J Σ_u Jᵀ with J the Jacobian of the bijection. jit/vmap-able.
    """
    flat_u, unravel = ravel_pytree(u)
    keys = jax.random.split(key, data.shape[0])  # the same per-datum keys as the loss

    def per_datum(t, x, k):
        return estimator.per_datum_loss(model, constrain(model, unravel(t)), x, k)

    grads = jax.vmap(jax.grad(per_datum), (None, 0, 0))(flat_u, data, keys)
    hess = jax.hessian(lambda t: jax.vmap(per_datum, (None, 0, 0))(t, data, keys).mean())(flat_u)
    centred = grads - grads.mean(axis=0)
    meat = centred.T @ centred / data.shape[0]
    bread = jnp.linalg.inv(hess)
    cov_u = bread @ meat @ bread.T / data.shape[0]
    jac = jax.jacfwd(lambda t: ravel_pytree(constrain(model, unravel(t)))[0])(flat_u)
    cov = jac @ cov_u @ jac.T
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
