"""Modes and curvatures in unconstrained coordinates, for the methods that calibrate or
adjust a posterior before sampling it (``generalized_bayes``, ``pseudo_posterior``).

Everything here is a pure function of flat unconstrained parameters ``z`` (a vector), so
the methods can jit it once per (method, model) and a new dataset of the same shape does
not recompile.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = [
    "bijections",
    "constrain",
    "flat_log_prior",
    "labelled",
    "log_prior_unconstrained",
    "newton_minimize",
    "params_of",
    "unconstrained_zeros",
    "z_free_fit",
]


def bijections(model) -> dict:
    """``{name: bijection from unconstrained space onto the PRIOR's support}``: the
    coordinates NumPyro's own kernels use (``numpyro.sample`` transforms by the prior's
    support), so every Bayesian method shares them (``model.parametrization("prior")``)."""
    return model.parametrization("prior").transforms


def constrain(model, z: dict) -> dict:
    """Unconstrained values (a dict) to the parameters."""
    return model.parametrization("prior").constrain(z)


def unconstrained_zeros(model, dtype):
    """``(z0, unravel)``: the model's ``initial_params()`` in unconstrained coordinates, or
    else their origin (zeros, or, for a unit vector, a point on the sphere;
    :meth:`bayesgen.model.Parametrization.origin`), and the unraveller."""
    return ravel_pytree(model.parametrization("prior").start(dtype, model.initial_params()))


def log_prior_unconstrained(model, z: dict):
    """log π(θ) + log |dθ/dz| at the unconstrained parameters ``z`` (a dict)."""
    return model.parametrization("prior").log_prior(z)


def flat_log_prior(model, unravel):
    """``z -> log π(θ(z)) + log |dθ/dz|`` for the flat unconstrained vector ``z``."""
    return lambda z: log_prior_unconstrained(model, unravel(z))


def params_of(model, unravel, z):
    """The constrained parameters of the flat unconstrained ``z``."""
    return constrain(model, unravel(z))


def labelled(model, prefix: str, z) -> dict:
    """``{"prefix.name": value}``: the parameters at the flat unconstrained ``z``, for
    ``PosteriorResult.info``."""
    unravel = unconstrained_zeros(model, z.dtype)[1]
    return {f"{prefix}.{k}": v for k, v in params_of(model, unravel, z).items()}


def newton_minimize(fun, z0, num_steps: int = 30):
    """Minimise a smooth ``fun`` of a flat vector by damped Newton steps (jit-able).

    Each step solves with the Hessian's eigenvalues floored at a small positive fraction of
    the largest (so it descends where the function is not convex) and takes the best of the
    step lengths 1, 1/2, ..., 1/128 and 0, so the objective never increases.
    """
    alphas = jnp.concatenate([2.0 ** -jnp.arange(8.0), jnp.zeros(1)]).astype(z0.dtype)
    grad, hess = jax.grad(fun), jax.hessian(fun)

    def body(_, z):
        g, h = grad(z), hess(z)
        lam, vec = jnp.linalg.eigh(0.5 * (h + h.T))
        lam = jnp.maximum(jnp.abs(lam), 1e-8 * jnp.max(jnp.abs(lam)) + 1e-30)
        step = vec @ ((vec.T @ g) / lam)
        values = jax.vmap(lambda a: fun(z - a * step))(alphas)
        values = jnp.where(jnp.isfinite(values), values, jnp.inf)
        return z - alphas[jnp.argmin(values)] * step

    return jax.lax.fori_loop(0, num_steps, body, z0)


def z_free_fit(model, loss, data):
    """The minimiser ẑ of a Z-free per-datum ``loss`` (from :mod:`bayesgen.losses`) in
    unconstrained coordinates, with the Hessian H of its mean and the covariance J of its
    per-datum gradients at ẑ (so H⁻¹ J H⁻¹ / n is the minimiser's sandwich covariance).
    jit-able; returns ``(z_hat, H, J)``."""
    z0, unravel = unconstrained_zeros(model, data.dtype)

    def per_datum(z, x):
        return loss(model, params_of(model, unravel, z), x)

    def mean_loss(z):
        return jnp.mean(jax.vmap(per_datum, (None, 0))(z, data))

    z_hat = newton_minimize(mean_loss, z0)
    hess = jax.hessian(mean_loss)(z_hat)
    grads = jax.vmap(jax.grad(per_datum), (None, 0))(z_hat, data)
    centred = grads - grads.mean(0)
    return z_hat, hess, centred.T @ centred / data.shape[0]
