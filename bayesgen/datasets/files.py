"""Reading a user's data file, for the CLI's ``--data FILE`` (and anyone else).

``.npy`` and ``.npz`` (one array, or the array named ``data``), ``.csv`` (one datum per row,
numbers separated by commas, an optional header line), ``.graphml`` and edge lists
(``.edgelist``, ``.edges``: one tie "u v" per line) for networks. A network comes back as a
``(1, N, N)`` adjacency matrix with its numeric node attributes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayesgen.errors import DataError

__all__ = ["NETWORK_SUFFIXES", "SUFFIXES", "read_data"]

NETWORK_SUFFIXES = (".graphml", ".edgelist", ".edges")
SUFFIXES = (".npy", ".npz", ".csv", *NETWORK_SUFFIXES)


def read_data(path) -> tuple[np.ndarray, dict]:
    """``(data, node attributes)`` from a file; the attributes are empty except for
    networks. Raises :class:`DataError` (one line, naming the file) when it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"cannot read {path}: its suffix {suffix or '(none)'} is not one of "
            f"{', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file")
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), {}
        if suffix == ".npz":
            return _npz(path), {}
        if suffix == ".csv":
            return _csv(path), {}
        return _network(path, suffix)
    except DataError:
        raise
    except Exception as err:  # a damaged or foreign file: say which and why, in one line
        why = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read {path}: {why}") from None


def _npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as stored:
        names = list(stored.files)
        if len(names) == 1:
            return stored[names[0]]
        if "data" in names:
            return stored["data"]
    raise DataError(f"cannot read {path}: it holds {names}; name the data array 'data'")


def _csv(path: Path) -> np.ndarray:
    text = path.read_text().splitlines()
    lines = [line for line in text if line.strip()]
    if not lines:
        raise DataError(f"cannot read {path}: it is empty")
    try:
        [float(v) for v in lines[0].split(",")]
    except ValueError:  # a header line
        lines = lines[1:]
    try:
        rows = [[float(v) for v in line.split(",")] for line in lines]
    except ValueError as err:
        raise DataError(f"cannot read {path}: {err}") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise DataError(f"cannot read {path}: its rows have different numbers of values")
    return np.asarray(rows)


def _network(path: Path, suffix: str) -> tuple[np.ndarray, dict]:
    import networkx as nx

    from bayesgen.models.ergm import from_networkx

    graph = nx.read_graphml(path) if suffix == ".graphml" else nx.read_edgelist(path)
    adjacency, attributes, _ = from_networkx(graph)
    return adjacency[None], attributes
