"""Exact checks of log Z need float64: enable it at the test entry point (not on import)."""

import jax

jax.config.update("jax_enable_x64", True)
