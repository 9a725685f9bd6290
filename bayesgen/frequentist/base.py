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
from numpyro.distributions.transforms import biject_to

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
    # Stochastic losses (random projections, noise) draw their noise once per fit by
    # default (common random numbers: a deterministic objective that L-BFGS can minimise
    # and the sandwich can describe); set True to redraw it at every step.
    fresh_noise_each_step = False

    def default_optimizer(self) -> optax.GradientTransformation:
        return lbfgs()

    def describe_normalizer(self, model) -> str:
        """How this estimator handled Z for ``model``, in words (the result's ``normalizer``)."""
        return self.normalizer

    def check(self, model) -> None:
        """Raise if the estimator cannot apply to ``model``."""

    def per_datum_loss(self, model, params, x, key) -> jax.Array:
        raise NotImplementedError

    def per_datum_losses(self, model, params, batch, key) -> jax.Array:
        """:meth:`per_datum_loss` of every datum, each with its own key from ``key``."""
        keys = jax.random.split(key, batch.shape[0])
        return jax.vmap(self.per_datum_loss, (None, None, 0, 0))(model, params, batch, keys)

    def loss(self, model, params, batch, key) -> jax.Array:
        """Mean of :meth:`per_datum_loss` over ``batch`` (shape ``(n, *event_shape)``)."""
        return self.per_datum_losses(model, params, batch, key).mean()


def bijections(model):
    """``{name: bijection from unconstrained space}`` (NumPyro ``biject_to``)."""
    return {s.name: biject_to(s.constraint) for s in model.params_spec}


def constrain(model, u):
    """Unconstrained values to the parameters' own space."""
    return {k: t(u[k]) for k, t in bijections(model).items()}


def unconstrain(model, params):
    """Parameters to unconstrained space."""
    return {k: t.inv(params[k]) for k, t in bijections(model).items()}


def unsupported(estimator: Estimator, model, why: str, instead: str) -> MethodError:
    return MethodError(f"{estimator.name} does not apply to {model!r}: {why}; use {instead}")
