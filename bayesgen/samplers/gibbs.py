"""Generic systematic-scan Gibbs for data on a finite support, from log f alone.

Each site in turn is resampled from its exact full conditional,

    P(x_i = v | x_{-i}) ∝ exp(log f(x with x_i = v)),   v in the support's values,

so a sweep costs (number of values) · sites evaluations of log f (two per site for spins or
bits, where the draw is a sigmoid of the difference). Every update leaves p_θ = f_θ / Z
invariant and Z never appears. Models with a structure to exploit (the Ising checkerboard)
override :meth:`bayesgen.Model.mcmc_sweep`. Functional: ``sweep(key, log_f, x, values)`` is
jit/vmap-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["sweep"]


def sweep(key: jax.Array, log_f, x: jax.Array, values) -> jax.Array:
    """One systematic-scan sweep of ONE datum ``x``; ``log_f(x)`` is its log-density up to a
    constant, ``values`` the values a site takes (two or more). Returns the new datum (same
    shape and dtype)."""
    values = tuple(float(v) for v in values)
    flat = x.reshape(-1)
    if len(values) == 2:
        a, b = values
        uniforms = jax.random.uniform(key, flat.shape, dtype=flat.dtype)

        def update(i, v):
            lf_a = log_f(v.at[i].set(a).reshape(x.shape))
            lf_b = log_f(v.at[i].set(b).reshape(x.shape))
            p_b = jax.nn.sigmoid(lf_b - lf_a)
            return v.at[i].set(jnp.where(uniforms[i] < p_b, b, a).astype(v.dtype))

        return jax.lax.fori_loop(0, flat.size, update, flat).reshape(x.shape)

    table = jnp.asarray(values, dtype=flat.dtype)
    gumbels = jax.random.gumbel(key, (flat.size, len(values)), dtype=flat.dtype)

    def update_categorical(i, v):
        lf = jax.vmap(lambda value: log_f(v.at[i].set(value).reshape(x.shape)))(table)
        return v.at[i].set(table[jnp.argmax(lf + gumbels[i])])

    return jax.lax.fori_loop(0, flat.size, update_categorical, flat).reshape(x.shape)
