"""What every benchmark records beside its numbers (imported by the scripts beside it)."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


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


def parse_args(doc: str, name: str, *, full: str | None = None, reps=5, x64: bool = False):
    """The flags every benchmark shares, parsed: ``--full`` (when ``full`` describes it),
    ``--reps`` (unless ``reps`` is False; None lets the script choose), ``--platform`` (applied
    here, before any computation) and ``--out`` (default ``results/<name>.json``, or
    ``results/<name>.gpu.json`` with ``--platform gpu``); float64
    is switched on when ``x64``."""
    import jax

    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    if full:
        parser.add_argument("--full", action="store_true", help=full)
    if reps is not False:
        parser.add_argument("--reps", type=int, default=reps)
    parser.add_argument("--platform", choices=["cpu", "gpu", "tpu"])
    parser.add_argument(
        "--out", help=f"default: results/{name}.json, results/{name}.gpu.json with --platform gpu"
    )
    args = parser.parse_args()
    if args.out is None:  # a GPU's (or TPU's) results go beside the CPU's, not over them
        tag = "" if args.platform in (None, "cpu") else f".{args.platform}"
        args.out = str(RESULTS / f"{name}{tag}.json")
    if args.platform:
        jax.config.update("jax_platforms", args.platform)
    if x64:
        jax.config.update("jax_enable_x64", True)
    return args
