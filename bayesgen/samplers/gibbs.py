"""Generic systematic-scan Gibbs for data on a two-valued support, from log f alone.

Each site in turn is resampled from its exact full conditional,

    P(x_i = b | x_{-i}) = sigmoid(log f(x with x_i = b) - log f(x with x_i = a)),

for support values ``(a, b)``: two evaluations of log f per site, so a sweep costs 2·sites
evaluations. Every update leaves p_θ = f_θ / Z invariant and Z never appears. Models with a
structure to exploit (the Ising checkerboard) override :meth:`bayesgen.Model.mcmc_sweep`.
Functional: ``sweep(key, log_f, x, values)`` is jit/vmap-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["sweep"]


def sweep(key: jax.Array, log_f, x: jax.Array, values: tuple[float, float]) -> jax.Array:
    """One systematic-scan sweep of ONE datum ``x``; ``log_f(x)`` is its log-density up to a
    constant. Returns the new datum (same shape and dtype)."""
    a, b = values
    flat = x.reshape(-1)
    uniforms = jax.random.uniform(key, flat.shape, dtype=flat.dtype)

    def update(i, v):
        lf_a = log_f(v.at[i].set(a).reshape(x.shape))
        lf_b = log_f(v.at[i].set(b).reshape(x.shape))
        p_b = jax.nn.sigmoid(lf_b - lf_a)
        return v.at[i].set(jnp.where(uniforms[i] < p_b, b, a).astype(v.dtype))

    return jax.lax.fori_loop(0, flat.size, update, flat).reshape(x.shape)
