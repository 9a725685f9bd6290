"""Sliced score matching (Song, Garg, Shi & Ermon 2019): score matching along random
directions, so no Hessian diagonal is needed.

    J(θ) = E_data E_v [ vᵀ ∇_x s_θ(x) v + ½ ||s_θ(x)||² ],   s_θ = ∇_x log f_θ,  v ~ N(0, I),

the variance-reduced form (SSM-VR), whose ½||s||² term is exact. Each directional second
derivative vᵀ(∇s)v is one forward-over-reverse product, so the cost per datum is
``num_projections`` gradients whatever the dimension. Z(θ) never appears. The directions
are drawn once per fit (per datum) unless ``fresh_noise_each_step``.

Reference: Y. Song, S. Garg, J. Shi, S. Ermon (2019), Sliced score matching: a scalable
approach to density and score estimation, UAI (arXiv 1905.07088).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from bayesgen.frequentist.score_matching import ScoreMatching
from bayesgen.support import Reals


@dataclass(frozen=True)
class SlicedScoreMatching(ScoreMatching):
    """Sliced score matching with ``num_projections`` Gaussian directions per datum."""

    num_projections: int = 4
    takes_curvature_penalty = False
    name = "sliced_score_matching"
    # Euclidean, and second derivatives (Hessian-vector products): a smooth density
    applies_to = staticmethod(lambda model: isinstance(model.support, Reals) and model.smooth)
    normalizer = "avoided: scores in x along random directions"

    def per_datum_loss(self, model, params, x, key, state):
        flat = x.reshape(-1)

        def log_f(v):
            return model.log_f(params, v.reshape(x.shape))

        score = jax.grad(log_f)
        directions = jax.random.normal(key, (self.num_projections, flat.size), flat.dtype)
        curvature = jax.vmap(lambda v: jnp.vdot(v, jax.jvp(score, (flat,), (v,))[1]))(directions)
        return curvature.mean() + 0.5 * jnp.sum(score(flat) ** 2)
