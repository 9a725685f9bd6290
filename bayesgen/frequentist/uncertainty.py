"""Standard errors: the sandwich (Godambe) covariance and the parametric bootstrap.

Sandwich, for θ̂ = argmin (1/n) Σ_i ℓ(θ; x_i) (an M-estimator):

    Cov(θ̂) ≈ A⁻¹ B A⁻¹ / n,   A = ∇² (1/n) Σ_i ℓ(θ̂; x_i),   B = Cov_i[∇ℓ(θ̂; x_i)].

For exact MLE it reduces (asymptotically) to the inverse Fisher information; for
pseudo-likelihood it is what makes the intervals honest. Computed in unconstrained
coordinates and mapped to the parameters' own space (flattened in the order of
``jax.flatten_util.ravel_pytree``) by the delta method.

Where the loss is itself a Monte Carlo estimate (Monte Carlo MLE), the estimator adds the
covariance of that error in the gradient to B/n, so the intervals cover both sources.

The meat B is estimated from the spread of the per-datum gradients, so it needs many data:
from one datum (one lattice, one network) it is exactly 0, and the interval has zero width.
For a likelihood (exact or Monte Carlo), the information identity B = A gives the
**observed information** instead, Cov(θ̂) ≈ A⁻¹ / n (plus the Monte Carlo term), valid with
n = 1 when the one datum is large (the lattice's sites carry the information, as in ergm's
MCMLE). Other M-estimators with few data (pseudo-likelihood on one image) use the
parametric bootstrap; :data:`MIN_SANDWICH_DATA` is where the sandwich takes over.

Parametric bootstrap, for any estimator (the only option for those that minimise no
objective, such as contrastive divergence): simulate datasets of the same size from the
fitted model, refit each (one vmapped computation, in the driver), and take the covariance
of the refitted estimates.

References: V. P. Godambe (1960), An optimum property of regular maximum likelihood
estimation, Ann. Math. Statist. 31. B. Efron, R. Tibshirani (1993), An Introduction to the
Bootstrap, ch. 6.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from bayesgen.frequentist.base import MIN_SANDWICH_DATA, constrain

__all__ = [
    "MIN_SANDWICH_DATA",
    "bootstrap_covariance",
    "flat_names",
    "loss_hessian",
    "sandwich_covariance",
]


def _per_datum(estimator, model, v, data, key, state):
    """``(flat v, unravel, per_datum(t, x, k), per-datum keys)``: the per-datum loss as a
    function of the flattened ``v = (u, nuisance)``, with the loss's own per-datum keys."""
    flat_v, unravel = ravel_pytree(v)
    keys = jax.random.split(key, data.shape[0])  # the same per-datum keys as the loss

    def per_datum(t, x, k):
        u, nuisance = unravel(t)
        return estimator.per_datum_loss(model, {**constrain(model, u), **nuisance}, x, k, state)

    return flat_v, unravel, per_datum, keys


def loss_hessian(estimator, model, v, data, key, state=()):
    """The ``(d, d)`` Hessian of the mean per-datum loss in the flattened coordinates of
    ``v = (u, nuisance)``: the sandwich's bread, and the curvature the driver's check that
    the estimate is a maximum reads. jit/vmap-able."""
    flat_v, _, per_datum, keys = _per_datum(estimator, model, v, data, key, state)
    return jax.hessian(lambda t: jax.vmap(per_datum, (None, 0, 0))(t, data, keys).mean())(flat_v)


def sandwich_covariance(estimator, model, v, data, key, state=(), information=False, hess=None):
    """The ``(d, d)`` sandwich covariance of ``ravel_pytree((params, nuisance))``.

    With ``information=True`` the meat is the Hessian itself (the information identity of a
    likelihood): the inverse observed information, valid for one large datum. ``hess``: the
    :func:`loss_hessian`, where the caller has it already.

    ``v = (u, nuisance)``: the unconstrained model parameters and the estimator's nuisance
    parameters. Formed in these coordinates (where every parameter is identified: a
    symmetric matrix has d(d+1)/2 of them, not d²), then mapped to the parameters' own space
    by the delta method, J Σ_v Jᵀ with J the Jacobian of the bijection. jit/vmap-able.
    """
    flat_v, unravel, per_datum, keys = _per_datum(estimator, model, v, data, key, state)

    def merged(t):
        u, nuisance = unravel(t)
        return {**constrain(model, u), **nuisance}

    grads = jax.vmap(jax.grad(per_datum), (None, 0, 0))(flat_v, data, keys)
    if hess is None:
        hess = loss_hessian(estimator, model, v, data, key, state)
    centred = grads - grads.mean(axis=0)
    meat = hess if information else centred.T @ centred / data.shape[0]
    noise = estimator.gradient_noise_covariance(model, merged, flat_v, state)
    if noise is not None:  # Monte Carlo error of the loss itself (e.g. MCMLE's reference sample)
        meat = meat + data.shape[0] * noise
    bread = jnp.linalg.pinv(hess, hermitian=True)  # a unit vector leaves its radius unidentified
    cov_v = bread @ meat @ bread.T / data.shape[0]

    def to_own_space(t):
        u, nuisance = unravel(t)
        return ravel_pytree((constrain(model, u), nuisance))[0]

    jac = jax.jacfwd(to_own_space)(flat_v)
    cov = jac @ cov_v @ jac.T
    return 0.5 * (cov + cov.T)


def bootstrap_covariance(estimates: np.ndarray, failed: np.ndarray) -> tuple[np.ndarray, int]:
    """Covariance of the refitted ``estimates`` ``(B, d)`` over the refits that did not fail;
    returns ``(cov, number used)``."""
    ok = np.asarray(failed) < 0
    kept = np.asarray(estimates)[ok]
    if kept.shape[0] < 2:
        return np.full((estimates.shape[1],) * 2, np.nan), int(kept.shape[0])
    return np.atleast_2d(np.cov(kept, rowvar=False)), int(kept.shape[0])


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
