"""Draws from a tabulated law: indices i with probability ∝ exp(log_weights[i]).

By the inverse CDF (a cumulative sum and a binary search per draw): memory O(K + n) for K
entries and n draws, where ``jax.random.categorical`` with ``shape=(n,)`` makes n x K
Gumbel variates (10 GB for the 66,049 nodes of a 256 x 256 quadrature grid and 20,000
draws). Used by the exact enumeration samplers (RBM) and the quadrature-grid sampler of
the 2-D EBMs. jit-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["draw_indices"]


def draw_indices(key: jax.Array, log_weights: jax.Array, n: int) -> jax.Array:
    """``n`` indices into the flat ``log_weights``, each with probability ∝ exp(weight)."""
    flat = log_weights.reshape(-1)
    cdf = jnp.cumsum(jnp.exp(flat - jnp.max(flat)))
    u = jax.random.uniform(key, (n,), dtype=cdf.dtype) * cdf[-1]
    return jnp.minimum(jnp.searchsorted(cdf, u, side="right"), flat.size - 1)
