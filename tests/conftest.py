"""Exact checks of log Z need float64: enable it at the test entry point (not on import).

Compiled programs are kept in a persistent cache shared by the test processes (and the
notebook kernels they start, through the environment): many tests compile the same fit or
sampler for the same shapes, and XLA's compile dominates their time. The cache lives under
``.pytest_cache`` (ignored by git) and is kept between runs, so a fresh clone runs cold
(on 2 cores on 2026-12-04: the 446 tests not marked slow in 6:50, the 72 slow ones in 17:37;
all 508 of the day before in one pass 20:58 to 26:42) and a second run warm (11:45 for all
500 tests on 2026-12-03); delete it to start cold. ``JAX_COMPILATION_CACHE_DIR`` moves it.

One process running the whole suite (no xdist) aborted in XLA twice, about 55% of the way
through (``Fatal Python error: Aborted`` while serialising an executable for the
persistent cache); the cause is not established. Each compiled program holds about three
memory mappings until JAX's in-memory caches drop it (400 small programs: 1,270 maps,
returned by ``jax.clear_caches``), so those caches are cleared after each test module;
with that the one-process run passed (384 tests), its maps levelling off at about 14,400
(something besides JAX's caches keeps some programs). A program shared with a later module
is read back from the persistent cache.
"""

import gc
import os
from pathlib import Path

import jax
import pytest

CACHE = Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax-compilation"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs",
    float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    yield
    jax.clear_caches()
    gc.collect()
