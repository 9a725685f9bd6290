"""Files written so that an interrupted run never leaves a half-written result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["JsonReport", "atomic_save_figure", "atomic_write_bytes", "atomic_write_json"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place, with
    the permissions a plain ``open(path, "w")`` would give (a temporary file is private)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_figure(fig, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure, in the format its suffix names (png if none), atomically."""
    import io

    buf = io.BytesIO()
    suffix = Path(path).suffix.lstrip(".")
    fig.savefig(buf, format=suffix or "png")
    return atomic_write_bytes(path, buf.getvalue())


class JsonReport:
    """Mixin of the evaluation results: ``to_json(path)`` writes their ``to_dict()``."""

    def to_json(self, path) -> None:
        """Write :meth:`to_dict` to ``path`` atomically (NaN written as null)."""
        atomic_write_json(path, self.to_dict())
