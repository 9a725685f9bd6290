"""What the two drivers share: compilation timed apart from the run, progress on stderr,
where a result was computed, and a batch spread over devices.

Both sides report ``timing["compile_s"]`` (XLA's compile, measured by lowering and
compiling ahead of the run) and ``timing["run_s"]`` (the compiled program alone), show
progress with tqdm when stderr is a terminal (or when asked), and name their devices the
same way (``"1 x cpu"``).

A batch of independent computations (the chains of a posterior, the replicates of a
study) is spread over devices by :class:`Spread`: its batch axis is split evenly over a
one-dimensional mesh (padded, by repeating its last member, to a multiple of the device
count) and the same vmapped function runs on each device's share under ``shard_map``, so
that nothing crosses devices; the padding is dropped from the results. One device (the
default on a CPU, and on a machine with one GPU) runs the function as it is. Across hosts
(``jax.distributed.initialize``) ``jax.local_devices()`` is this host's share: each
process spreads its own batch over its own devices.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from bayesgen.errors import MethodError

__all__ = [
    "Spread",
    "compile_timed",
    "device_description",
    "progress_bar",
    "resolve_devices",
    "show_progress",
    "spread_call",
]

BATCH = "batch"  # the mesh axis of a spread batch


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


def resolve_devices(devices=None) -> tuple:
    """The devices a batch may be spread over: every local device (None), the first ``k``
    local devices (an int), or the devices given (a sequence of ``jax.Device``)."""
    local = jax.local_devices()
    if devices is None:
        return tuple(local)
    if isinstance(devices, int | np.integer) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise MethodError(
                f"devices={devices}: this process has {len(local)} local device(s) "
                f"({device_description(local)}); give 1..{len(local)}, a list of devices, or "
                "None for all"
            )
        return tuple(local[: int(devices)])
    try:
        chosen = tuple(devices)
    except TypeError:
        chosen = ()
    if not chosen or not all(isinstance(d, jax.Device) for d in chosen):
        raise MethodError(
            f"devices must be None (every local device), a count, or a list of jax devices "
            f"(e.g. jax.local_devices()[:2]); got {devices!r}"
        )
    if len(set(chosen)) != len(chosen):
        raise MethodError(f"devices lists a device twice: {chosen}")
    return chosen


def _spec(axis) -> PartitionSpec:
    """The partition of an array whose batch is on ``axis`` (None: the same on every
    device)."""
    return PartitionSpec() if axis is None else PartitionSpec(*([None] * axis), BATCH)


def _is_spec(x) -> bool:
    return isinstance(x, PartitionSpec)


def spread_call(fn, statics, devices, in_axes, out_axes, *args):
    """``fn(*statics, *args)``, run on each device's share of the batch under ``shard_map``
    (``in_axes``: per argument, the axis of its batch or None; ``out_axes``: the same for the
    outputs, as a prefix of their tree). Compiled by the drivers with every argument but
    ``args`` static."""
    local = lambda *a: fn(*statics, *a)  # noqa: E731
    if len(devices) == 1:
        return local(*args)
    mesh = Mesh(np.array(devices), (BATCH,))
    in_specs = tuple(_spec(a) for a in in_axes)
    out_specs = jax.tree.map(_spec, out_axes, is_leaf=lambda x: x is None)
    return jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)(
        *args
    )


@dataclass(frozen=True)
class Spread:
    """A batch of ``size`` independent members spread over ``devices``: at most one device
    per member; the batch padded to a multiple of the device count by repeating its last
    member (computed, then dropped)."""

    devices: tuple
    size: int

    @classmethod
    def over(cls, devices, size: int, *, spread: bool = True) -> Spread:
        """The spread of a batch of ``size`` over ``devices`` (see :func:`resolve_devices`);
        ``spread=False`` (members that read each other, as a population's do) keeps it on
        the first device."""
        chosen = resolve_devices(devices)
        return cls(chosen[: max(1, min(len(chosen), int(size))) if spread else 1], int(size))

    @property
    def padded(self) -> int:
        k = len(self.devices)
        return math.ceil(self.size / k) * k

    @property
    def description(self) -> str:
        """``"4 x cpu"``: the devices the batch ran on."""
        return device_description(self.devices)

    def statics(self, in_axes, out_axes) -> tuple:
        """The static arguments of :func:`spread_call` after ``fn`` and ``statics``."""
        return (self.devices, tuple(in_axes), out_axes)

    def put(self, args: tuple, in_axes) -> tuple:
        """``args`` padded along their batch axes and placed: batched ones split over the
        devices, the others copied to each."""
        if len(self.devices) == 1:  # the default device: as they are (no copy)
            same = self.devices[0] == jax.devices()[0]
            return args if same else jax.device_put(args, self.devices[0])
        mesh = Mesh(np.array(self.devices), (BATCH,))
        index = jnp.minimum(jnp.arange(self.padded), self.size - 1)

        def place(axis, tree):
            def one(x):
                if axis is not None and self.padded != self.size:
                    x = jnp.take(x, index, axis=axis) if axis else x[index]
                return jax.device_put(x, NamedSharding(mesh, _spec(axis)))

            return jax.tree.map(one, tree)

        return tuple(place(a, x) for a, x in zip(in_axes, args, strict=True))

    def take(self, out, out_axes):
        """``out`` without the padding (each leaf sliced along its batch axis)."""
        if self.padded == self.size:
            return out

        def cut(axis, tree):
            if axis is None:
                return tree
            return jax.tree.map(lambda x: jax.lax.slice_in_dim(x, 0, self.size, axis=axis), tree)

        return jax.tree.map(cut, out_axes, out, is_leaf=lambda x: x is None)
