"""Hamiltonian Monte Carlo for real-valued data, from log f alone.

``num_leapfrog`` leapfrog steps of size ε on H(x, p) = -log f(x) + ½‖p‖², p ~ N(0, I),
then a Metropolis–Hastings accept of the end point, so each step leaves p_θ = f_θ / Z
exactly invariant (Z cancels from the ratio). Functional and jit/vmap-able:
``step(key, log_f, x, step_size, num_leapfrog)`` acts on ONE datum. Longer trajectories
than MALA's single gradient step move further per accept on smooth, multimodal energies
(the 2-D EBMs).

Reference: R. M. Neal (2011), MCMC using Hamiltonian dynamics, Handbook of MCMC, ch. 5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["step"]


def step(key: jax.Array, log_f, x: jax.Array, step_size, num_leapfrog: int = 10) -> jax.Array:
    """One HMC transition of ONE datum ``x``; returns the new datum."""
    key_momentum, key_accept = jax.random.split(key)
    grad = jax.grad(log_f)
    p0 = jax.random.normal(key_momentum, x.shape, x.dtype)

    def leapfrog(_, state):
        q, p = state
        p = p + 0.5 * step_size * grad(q)
        q = q + step_size * p
        return q, p + 0.5 * step_size * grad(q)

    q, p = jax.lax.fori_loop(0, num_leapfrog, leapfrog, (x, p0))
    log_ratio = log_f(q) - log_f(x) - 0.5 * (jnp.sum(p * p) - jnp.sum(p0 * p0))
    log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, -jnp.inf)
    accept = jnp.log(jax.random.uniform(key_accept, (), x.dtype)) < log_ratio
    return jnp.where(accept, q, x)
