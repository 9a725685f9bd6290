"""Forward-mode derivatives for normalisers that scan over many terms.

log Z(θ) computed by a long ``lax.scan`` (over chunks of configurations, or over lattice
rows) would keep every step's intermediate values for reverse-mode autodiff: gigabytes for
2^25 configurations. Models have few parameters, so forward mode is the cheap direction:
:func:`forward_differentiated` wraps ``fn`` in a ``custom_jvp`` whose rule computes the full
gradient by forward mode (one pass with ``dim(θ)`` tangents, memory independent of the scan
length) and contracts it with the tangent. ``jax.grad`` then transposes only that
contraction; ``jax.hessian`` (forward over reverse) is forward-over-forward through ``fn``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


def forward_differentiated(fn):
    """Return ``fn`` (params pytree -> scalar) with a memory-light forward-mode derivative."""

    @jax.custom_jvp
    def wrapped(params):
        return fn(params)

    @wrapped.defjvp
    def _jvp(primals, tangents):
        (params,), (dparams,) = primals, tangents
        flat, unravel = ravel_pytree(params)

        def flat_fn(v):
            return fn(unravel(v))

        basis = jnp.eye(flat.size, dtype=flat.dtype)
        value, grad = jax.vmap(lambda t: jax.jvp(flat_fn, (flat,), (t,)), out_axes=(None, 0))(basis)
        dflat, _ = ravel_pytree(dparams)
        return value, jnp.dot(grad, dflat.astype(grad.dtype))

    return wrapped
