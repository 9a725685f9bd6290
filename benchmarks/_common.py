"""What every benchmark records beside its numbers (imported by the scripts beside it)."""

from __future__ import annotations

import platform


def environment(benchmark: str, dtype: str) -> dict:
    """Name, device, machine, versions and dtype: the head of every results JSON."""
    import jax
    import numpyro

    return {
        "benchmark": benchmark,
        "device": str(jax.devices()[0]),
        "machine": platform.platform(),
        "processor": platform.machine(),
        "jax": jax.__version__,
        "numpyro": numpyro.__version__,
        "dtype": dtype,
    }
