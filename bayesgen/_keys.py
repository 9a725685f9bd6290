"""One PRNG key per replicate, shared by both sides' replicate drivers."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bayesgen.errors import MethodError


def _typed(key) -> bool:
    return jnp.issubdtype(key.dtype, jax.dtypes.prng_key)


def key_data(key) -> jax.Array:
    """The raw uint32 data of ``key`` (a typed or a legacy raw key)."""
    return jax.random.key_data(key) if _typed(key) else key


def replicate_keys(key, replicates: int) -> jax.Array:
    """The keys of ``replicates`` replicates: ``jax.random.split(key, replicates)`` for one
    key (``jax.random.key(0)`` if None), or ``key`` itself when it is already one key per
    replicate, so that a study computed in chunks (``keys[a:b]`` for datasets ``a:b``) gives
    every replicate the key it gets when all are computed at once."""
    key = jax.random.key(0) if key is None else key
    single, batch = ((), (replicates,)) if _typed(key) else ((2,), (replicates, 2))
    if key.shape == single:
        return jax.random.split(key, replicates)
    if key.shape == batch:
        return key
    raise MethodError(
        f"key must be one PRNG key or one per replicate (shape {batch}); got shape {key.shape}"
    )
