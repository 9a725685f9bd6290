"""Metropolis-adjusted Langevin (MALA) for real-valued data, from log f alone.

    x' = x + (ε²/2) ∇ log f(x) + ε ξ,   ξ ~ N(0, I),

accepted with the Metropolis–Hastings probability of the Langevin proposal, so each step
leaves p_θ = f_θ / Z exactly invariant (Z cancels from the ratio). Functional and
jit/vmap-able: ``step(key, log_f, x, step_size)`` acts on ONE datum.

Reference: G. O. Roberts, R. L. Tweedie (1996), Exponential convergence of Langevin
distributions and their discrete approximations, Bernoulli 2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["step"]


def step(key: jax.Array, log_f, x: jax.Array, step_size) -> jax.Array:
    """One MALA step of ONE datum ``x`` with step size ``step_size``; returns the new datum."""
    key_noise, key_accept = jax.random.split(key)
    value_and_grad = jax.value_and_grad(log_f)
    lf_x, g_x = value_and_grad(x)
    half_eps2 = 0.5 * step_size**2
    proposal = x + half_eps2 * g_x + step_size * jax.random.normal(key_noise, x.shape, x.dtype)
    lf_p, g_p = value_and_grad(proposal)

    def log_q(to, frm, g_frm):  # log density of the Langevin proposal frm -> to, up to a constant
        return -jnp.sum((to - frm - half_eps2 * g_frm) ** 2) / (4.0 * half_eps2)

    log_ratio = lf_p - lf_x + log_q(x, proposal, g_p) - log_q(proposal, x, g_x)
    accept = jnp.log(jax.random.uniform(key_accept, (), x.dtype)) < log_ratio
    return jnp.where(accept, proposal, x)
