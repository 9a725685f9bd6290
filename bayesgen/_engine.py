"""What the two drivers share: compilation timed apart from the run, progress on stderr,
and where a result was computed.

Both sides report ``timing["compile_s"]`` (XLA's compile, measured by lowering and
compiling ahead of the run) and ``timing["run_s"]`` (the compiled program alone), show
progress with tqdm when stderr is a terminal (or when asked), and name their devices the
same way (``"1 x cpu"``).
"""

from __future__ import annotations

import sys
import time

import jax
from tqdm import tqdm

__all__ = ["compile_timed", "device_description", "progress_bar", "show_progress"]


def show_progress(progress) -> bool:
    """``progress`` (True, False) or, when None, whether stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def compile_timed(jitted, *args):
    """``(compiled, seconds)``: ``jitted`` lowered and compiled for ``args``, and how long
    that took, so that a run's time is the program's alone."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def progress_bar(total: int, desc: str, show: bool, unit: str = "it") -> tqdm:
    """A tqdm bar on stderr of ``total`` units, drawn only when ``show``."""
    return tqdm(
        total=total, desc=desc, unit=unit, disable=not show, file=sys.stderr, dynamic_ncols=True
    )


def device_description(devices=None) -> str:
    """``"4 x cpu"``: how many devices of which platform computed a result (the local
    devices by default)."""
    devices = jax.local_devices() if devices is None else list(devices)
    platforms = sorted({d.platform for d in devices})
    return " + ".join(f"{sum(d.platform == p for d in devices)} x {p}" for p in platforms)
