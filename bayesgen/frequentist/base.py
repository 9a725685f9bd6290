"""What every frequentist estimator is: a loss built from ``model.log_unnormalized``.

An estimator is a small frozen (hashable) object. ``loss(model, params, batch, key)`` is the
mean over the batch of a per-datum loss; the fit driver (:mod:`bayesgen.frequentist.driver`)
is the only loop. An M-estimator also exposes ``per_datum_loss`` so the sandwich covariance
can be formed from per-datum gradients.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import optax

from bayesgen.errors import MethodError


@functools.cache
def lbfgs() -> optax.GradientTransformationExtraArgs:
    """The default optimiser (L-BFGS) of deterministic, smooth objectives (one shared instance, so
    fits that use it share compiled code)."""
    return optax.lbfgs()


@dataclass(frozen=True)
class Estimator:
    """Base class. Subclasses set ``name``, ``normalizer`` and implement ``per_datum_loss``."""

    name = "estimator"
    normalizer = ""
    is_m_estimator = True
    default_num_steps = 100
    gradient_tolerance = 1e-6  # on the full-data gradient norm, for ``converged``

    def default_optimizer(self) -> optax.GradientTransformation:
        return lbfgs()

    def check(self, model) -> None:
        """Raise if the estimator cannot apply to ``model``."""

    def per_datum_loss(self, model, params, x, key) -> jax.Array:
        raise NotImplementedError

    def loss(self, model, params, batch, key) -> jax.Array:
        """Mean of :meth:`per_datum_loss` over ``batch`` (shape ``(n, *event_shape)``)."""
        return jax.vmap(self.per_datum_loss, (None, None, 0, None))(
            model, params, batch, key
        ).mean()


def unsupported(estimator: Estimator, model, why: str, instead: str) -> MethodError:
    return MethodError(f"{estimator.name} does not apply to {model!r}: {why}; use {instead}")
