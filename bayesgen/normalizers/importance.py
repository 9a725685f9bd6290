"""Importance-sampled ratios of normalising constants.

With draws y_1..y_m from p_ψ = f_ψ / Z(ψ),

    Z(θ) / Z(ψ) = E_ψ[f_θ(y) / f_ψ(y)] ≈ (1/m) Σ_j exp(log f_θ(y_j) - log f_ψ(y_j)),

unbiased for the ratio (its log is biased by O(1/m)); the effective sample size
(Σ w)² / Σ w² says how far θ may move from ψ before the estimate degrades. Used by Monte
Carlo MLE (Geyer & Thompson 1992), and by annealed importance sampling as its building block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["effective_sample_size", "log_mean_weight", "log_normalizer_ratio"]


def log_normalizer_ratio(log_weights: jax.Array) -> jax.Array:
    """log (Z(θ)/Z(ψ)) from ``log_weights = log f_θ(y_j) - log f_ψ(y_j)``, y_j ~ p_ψ."""
    return jax.nn.logsumexp(log_weights) - jnp.log(log_weights.shape[0])


def effective_sample_size(log_weights: jax.Array) -> jax.Array:
    """Kish's effective sample size (Σ w)² / Σ w² of importance weights given as logs."""
    return jnp.exp(2 * jax.nn.logsumexp(log_weights) - jax.nn.logsumexp(2 * log_weights))


def log_mean_weight(log_weights: jax.Array, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """``(log mean w, its standard error)`` from i.i.d. weights given as logs.

    The mean is unbiased for the ratio it estimates; the standard error of its log is the
    delta method's sd(w) / (sqrt(m) mean(w)), computed from rescaled weights so that
    nothing overflows.
    """
    m = log_weights.shape[axis]
    top = jnp.max(log_weights, axis=axis, keepdims=True)
    w = jnp.exp(log_weights - top)
    mean = jnp.mean(w, axis=axis)
    se = jnp.std(w, axis=axis, ddof=1) / (jnp.sqrt(m) * mean)
    return jnp.log(mean) + jnp.squeeze(top, axis), se
