"""Compile caches that belong to the object whose computation they hold.

A compiled fit, sampler or study closes over its model: cached at module level (a
``functools.cache``, or ``jax.jit`` with the model as a static argument, whose caches hold
their static arguments), it would keep every model ever fitted alive. Here the compiled
functions live on the model itself, keyed by value-hashable settings (method objects are
frozen dataclasses, sizes are ints): they are shared by every call on that model and freed
with it. A copy (``with_prior``) starts with an empty cache, since its computation differs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable

import jax

__all__ = ["cached", "jit", "owned", "per_model"]

_SLOT = "_bayesgen_compiled"


def owned(owner, key: Hashable, build: Callable):
    """``build()``, made once per ``(owner, key)`` and kept on ``owner``."""
    store = vars(owner).get(_SLOT)
    if store is None or store[0] != id(owner):  # none yet, or copied from another object
        store = (id(owner), {})
        object.__setattr__(owner, _SLOT, store)
    cache = store[1]
    if key not in cache:
        cache[key] = build()
    return cache[key]


def jit(owner, fn: Callable, *statics, **jit_kwargs):
    """``jax.jit`` of ``fn`` with its leading arguments ``statics`` fixed (the model, the
    method, sizes), kept on ``owner``: ``jit(model, f, model, est)(data)`` is
    ``f(model, est, data)`` compiled once per shape of ``data``."""
    key = (fn, statics, tuple(sorted((k, repr(v)) for k, v in jit_kwargs.items())))
    return owned(owner, key, lambda: jax.jit(functools.partial(fn, *statics), **jit_kwargs))


def per_model(build: Callable) -> Callable:
    """Decorator: ``build(model, *settings)`` (a jitted closure, say) made once per model
    and value-hashable settings, kept on the model: the replacement for a module-level
    ``functools.cache`` keyed on the model."""

    @functools.wraps(build)
    def get(model, *settings):
        return owned(model, (build, settings), lambda: build(model, *settings))

    return get


def cached(owner) -> dict:
    """What is kept on ``owner`` (for tests: a second call with the same shapes adds
    nothing)."""
    store = vars(owner).get(_SLOT)
    return {} if store is None or store[0] != id(owner) else dict(store[1])
