"""The optax optimisers that estimators and models name, each one shared object per argument
set (fits that use the same object share compiled code). A neutral module: the model zoo
configures its fits with these without importing either side."""

from __future__ import annotations

import functools

import optax

__all__ = ["adam_cosine", "lbfgs"]


@functools.cache
def adam_cosine(learning_rate: float, num_steps: int) -> optax.GradientTransformation:
    """Adam whose learning rate decays from ``learning_rate`` to 2% of it over ``num_steps``
    (the same object for the same arguments, so fits that use it share compiled code)."""
    return optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps, 0.02))


@functools.cache
def lbfgs() -> optax.GradientTransformationExtraArgs:
    """The default optimiser (L-BFGS) of deterministic, smooth objectives (one shared instance, so
    fits that use it share compiled code)."""
    return optax.lbfgs()
