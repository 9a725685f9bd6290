"""Exact checks of log Z need float64: enable it at the test entry point (not on import).

Compiled programs are kept in a persistent cache shared by the test processes (and the
notebook kernels they start, through the environment): many tests compile the same fit or
sampler for the same shapes, and XLA's compile dominates their time. The cache lives under
``.pytest_cache`` (ignored by git) and is kept between runs, so a fresh clone runs cold
(18:37 for the suite on 2 cores, measured 2026-12-01) and a second run warm (10:53);
delete it to start cold. ``JAX_COMPILATION_CACHE_DIR`` moves it.

Each compiled program holds about three memory mappings for as long as JAX's in-memory
caches keep it, and a process may hold 65,530 (``vm.max_map_count``): one process running
the whole suite aborted in XLA (``Fatal Python error: Aborted`` while serialising an
executable) two thirds of the way through, twice. The in-memory caches are cleared after
each test module, so a worker holds only its current module's programs; a program shared
with a later module is read back from the persistent cache.
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
