"""Data domains and their validation.

A :class:`Support` knows the shape of one datum (``event_shape``) and which values are
allowed. :meth:`Support.validate` checks a *batch* of data, shape ``(n, *event_shape)``, and
raises :class:`~bayesgen.errors.DataError` naming the first bad datum and why. Every entry
point of the package (models, fits, samplers, the CLI) validates through here, so the
messages are the same everywhere.

Validation needs concrete values: on traced arrays (inside ``jit``) only the shape is checked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bayesgen.errors import DataError

__all__ = [
    "Binary",
    "Categorical",
    "Counts",
    "FiniteSet",
    "Graphs",
    "Reals",
    "Sphere",
    "Spins",
    "Support",
    "sphere_log_area",
    "uniform_unit_vectors",
]


def _float_dtype():
    """The default floating dtype (float64 when ``jax_enable_x64`` is on, else float32)."""
    return jnp.asarray(0.0).dtype


def _position(flat_index: int, event_shape: tuple[int, ...]) -> str:
    if not event_shape:
        return ""
    return f" at position {tuple(int(i) for i in np.unravel_index(flat_index, event_shape))}"


class Support:
    """A data domain: the shape of one datum and the values it may take."""

    name: str = "support"
    two_valued: bool = False  # every entry takes one of two values (spins, bits)
    values: tuple[float, ...] | None = None  # the values of a finite support; None: infinite

    def __init__(self, event_shape: Sequence[int] = ()):
        self.event_shape = tuple(int(s) for s in event_shape)

    # -- what a model gets from its support ------------------------------------------
    @property
    def size(self) -> int:
        """The number of entries of one datum (the sites)."""
        return math.prod(self.event_shape)

    @property
    def finite(self) -> bool:
        """Whether a datum takes finitely many values (every entry in :attr:`values`)."""
        return self.values is not None

    @property
    def num_states(self) -> int | None:
        """How many data the support holds (``len(values) ** size``); None where infinite."""
        return len(self.values) ** self.size if self.finite else None

    def random(self, key: jax.Array, n: int) -> jax.Array:
        """``n`` data spread over the support, shape ``(n, *event_shape)``: uniform over a
        finite support, standard normal for real arrays (a start for Markov chains, points at
        which to check a model definition)."""
        shape = (int(n), *self.event_shape)
        if self.finite:
            table = jnp.asarray(self.values, dtype=_float_dtype())
            return table[jax.random.randint(key, shape, 0, len(self.values))]
        return jax.random.normal(key, shape, _float_dtype())

    # -- to be specialised -------------------------------------------------------------
    def _bad_values(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask, same shape as ``x``, of finite values outside the domain."""
        return np.zeros(x.shape, dtype=bool)

    def _describe_bad(self, value) -> str:
        return f"value {value!r} is outside {self.name}"

    def _hint(self, x: np.ndarray) -> str:
        return ""

    def _bad_datum(self, x: np.ndarray) -> tuple[np.ndarray, str] | None:
        """For domains with a condition on a whole datum (a unit norm): ``(mask of bad data
        (n,), what is wrong with the first)``, or None where every datum is fine."""
        return None

    # -- shared ------------------------------------------------------------------------
    def validate(self, data: jax.typing.ArrayLike) -> jax.Array:
        """Check a batch of data and return it as a JAX array of the default float dtype.

        Args:
          data: array-like of shape ``(n, *event_shape)`` with ``n >= 1``.

        Returns:
          The data as a ``jax.Array`` of the default floating dtype.

        Raises:
          DataError: wrong shape, non-numeric, non-finite, or values outside the domain;
            the message names the first bad datum (its index along axis 0) and why.
        """
        if isinstance(data, jax.core.Tracer):
            self._check_shape(tuple(data.shape))
            return data.astype(_float_dtype())
        try:
            x = np.asarray(data)
        except Exception as err:  # ragged lists and the like
            raise DataError(f"data could not be read as an array: {err}") from None
        self._check_shape(x.shape)
        if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
            raise DataError(
                f"data must be numeric; got dtype {x.dtype}. Convert it to numbers in {self.name}."
            )
        if np.iscomplexobj(x):
            raise DataError("data must be real; got complex numbers")
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        finite = np.isfinite(flat)
        if not finite.all():
            i = int(np.argmin(finite.all(axis=1)))
            j = int(np.argmin(finite[i]))
            raise DataError(
                f"datum {i} has a non-finite value ({flat[i, j]}){_position(j, self.event_shape)}; "
                "remove or impute missing values before fitting"
            )
        bad = self._bad_values(flat)
        if bad.any():
            i = int(np.argmax(bad.any(axis=1)))
            j = int(np.argmax(bad[i]))
            raise DataError(
                f"datum {i}: {self._describe_bad(flat[i, j].item())}"
                f"{_position(j, self.event_shape)}{self._hint(flat)}"
            )
        whole = self._bad_datum(flat)
        if whole is not None:
            raise DataError(f"datum {int(np.argmax(whole[0]))}: {whole[1]}")
        return jnp.asarray(x, dtype=_float_dtype())

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        want = "(n, " + ", ".join(map(str, self.event_shape)) + ")" if self.event_shape else "(n,)"
        if shape == self.event_shape and self.event_shape:
            raise DataError(
                f"got a single datum of shape {shape}; pass a batch of shape {want}, "
                "e.g. data[None] for one datum"
            )
        if len(shape) != len(self.event_shape) + 1 or tuple(shape[1:]) != self.event_shape:
            raise DataError(
                f"data must have shape {want} for {self.name} of event shape "
                f"{self.event_shape}; got shape {tuple(shape)}"
            )
        if shape[0] == 0:
            raise DataError("data are empty: need at least one datum")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(event_shape={self.event_shape})"


class Reals(Support):
    """Real vectors (or arrays) of a fixed shape; any finite value is allowed."""

    name = "real numbers"


def sphere_log_area(dim: int) -> float:
    """log of the surface area of S^(dim-1): log(2 π^(d/2) / Γ(d/2))."""
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)


def uniform_unit_vectors(key, shape, dtype=None) -> jax.Array:
    """Uniform draws on the unit sphere of R^shape[-1]: normalised standard normals."""
    z = jax.random.normal(key, tuple(shape), dtype or _float_dtype())
    return z / jnp.linalg.norm(z, axis=-1, keepdims=True)


class Sphere(Support):
    """Unit vectors in R^d, the sphere S^(d-1): each datum's Euclidean norm is 1 (to 1e-6)."""

    def __init__(self, dim: int):
        super().__init__((dim,))
        self.name = f"unit vectors in R^{dim}"

    def random(self, key, n):
        """``n`` uniform unit vectors."""
        return uniform_unit_vectors(key, (int(n), *self.event_shape))

    def _bad_datum(self, x: np.ndarray):
        norms = np.linalg.norm(x, axis=1)
        bad = np.abs(norms - 1.0) > 1e-6
        if not bad.any():
            return None
        norm = norms[int(np.argmax(bad))]
        return bad, (
            f"its norm is {norm:.6g}, not 1: data on the sphere must be unit vectors; "
            "normalise them with x / np.linalg.norm(x, axis=1, keepdims=True)"
        )


class Counts(Support):
    """Counts: every entry is a non-negative integer (0, 1, 2, ...)."""

    name = "counts (non-negative integers)"

    def random(self, key, n):
        """``n`` Poisson(1) counts per entry."""
        shape = (int(n), *self.event_shape)
        return jax.random.poisson(key, 1.0, shape).astype(_float_dtype())

    def _bad_values(self, x: np.ndarray) -> np.ndarray:
        return (x < 0) | (x != np.floor(x))

    def _describe_bad(self, value) -> str:
        if value < 0:
            return f"value {value!r} is negative; counts are non-negative integers"
        return f"value {value!r} is not an integer; counts are non-negative integers"


class FiniteSet(Support):
    """Arrays whose entries take values in a finite set (exact comparison)."""

    def __init__(self, values: Sequence[float], event_shape: Sequence[int] = ()):
        super().__init__(event_shape)
        self.values = tuple(float(v) for v in values)
        self.name = "{" + ", ".join(f"{v:g}" for v in self.values) + "}"
        self.two_valued = len(self.values) == 2

    def _bad_values(self, x: np.ndarray) -> np.ndarray:
        return ~np.isin(x, np.asarray(self.values, dtype=x.dtype))

    def _describe_bad(self, value) -> str:
        return f"value {value!r} is not in {self.name}"


class Spins(FiniteSet):
    """Spin configurations: every entry is -1 or +1."""

    def __init__(self, event_shape: Sequence[int] = ()):
        super().__init__((-1.0, 1.0), event_shape)

    def _hint(self, x: np.ndarray) -> str:
        if np.isin(x, (0, 1)).all():
            return "; the data look like 0/1 bits: map them to spins with 2 * x - 1"
        return ""


class Binary(FiniteSet):
    """Binary arrays: every entry is 0 or 1."""

    def __init__(self, event_shape: Sequence[int] = ()):
        super().__init__((0.0, 1.0), event_shape)

    def _hint(self, x: np.ndarray) -> str:
        if np.isin(x, (-1, 1)).all():
            return "; the data look like -1/+1 spins: map them to bits with (x + 1) / 2"
        return ""


class Categorical(FiniteSet):
    """Categorical arrays: every entry is one of the ``num_values`` categories 0, 1, ...,
    ``num_values - 1`` (Potts models, q-state data).

    Example:
      >>> import bayesgen as bg
      >>> bg.Categorical((3, 3), num_values=3).num_states
      19683
    """

    def __init__(self, event_shape: Sequence[int] = (), num_values: int = 2):
        if isinstance(num_values, bool) or int(num_values) != num_values or num_values < 2:
            raise DataError(f"Categorical needs num_values >= 2 categories; got {num_values!r}")
        self.num_values = int(num_values)
        super().__init__(tuple(range(self.num_values)), event_shape)
        self.name = f"categories 0..{self.num_values - 1}"

    def _describe_bad(self, value) -> str:
        return f"value {value!r} is not a category in 0..{self.num_values - 1}"

    def _hint(self, x: np.ndarray) -> str:
        if x.min() >= 1 and x.max() <= self.num_values:
            return "; the data look like categories numbered from 1: subtract 1"
        return ""

    def __repr__(self) -> str:
        return f"Categorical(event_shape={self.event_shape}, num_values={self.num_values})"


class Graphs(Binary):
    """Undirected simple graphs on ``num_nodes`` nodes, one datum per graph, held as the
    vector of its D = N (N - 1) / 2 dyads (the upper triangle of the adjacency matrix, row
    by row: (0, 1), (0, 2), ..., (N - 2, N - 1)), so that every site of a datum is a dyad
    that may or may not be a tie.

    :meth:`validate` takes either form: dyad vectors ``(n, D)`` or adjacency matrices
    ``(n, N, N)`` (symmetric, 0/1, zero diagonal; one ``(N, N)`` matrix is one graph) and
    returns dyad vectors; :meth:`adjacency` turns them back.

    Example:
      >>> import numpy as np, bayesgen as bg
      >>> g = bg.Graphs(3)
      >>> y = g.validate(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
      >>> y.tolist(), g.adjacency(y)[0].astype(int).tolist()
      ([[1.0, 0.0, 1.0]], [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    """

    def __init__(self, num_nodes: int):
        if isinstance(num_nodes, bool) or int(num_nodes) != num_nodes or num_nodes < 2:
            raise DataError(f"Graphs needs num_nodes >= 2; got {num_nodes!r}")
        self.num_nodes = n = int(num_nodes)
        super().__init__((n * (n - 1) // 2,))
        self.name = f"undirected graphs on {n} nodes"
        self.rows, self.cols = np.triu_indices(n, 1)

    def adjacency(self, y) -> jax.Array:
        """The adjacency matrices ``(..., N, N)`` of dyad vectors ``(..., D)`` (jit-able)."""
        y = jnp.asarray(y)
        a = jnp.zeros((*y.shape[:-1], self.num_nodes, self.num_nodes), y.dtype)
        a = a.at[..., self.rows, self.cols].set(y)
        return a.at[..., self.cols, self.rows].set(y)

    def dyads(self, adjacency) -> jax.Array:
        """The dyad vectors ``(..., D)`` of adjacency matrices ``(..., N, N)`` (unchecked)."""
        return jnp.asarray(adjacency)[..., self.rows, self.cols]

    def validate(self, data) -> jax.Array:
        """Dyad vectors ``(n, D)`` of the data: dyad vectors, adjacency matrices
        ``(n, N, N)`` or one ``(N, N)`` matrix (checked: 0/1, symmetric, no loops)."""
        if isinstance(data, jax.core.Tracer):
            return super().validate(data)
        try:
            x = np.asarray(data)
        except Exception as err:
            raise DataError(f"data could not be read as an array: {err}") from None
        n = self.num_nodes
        if x.shape == (n, n):
            x = x[None]
        if x.ndim == 3 and x.shape[1:] == (n, n):
            if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
                raise DataError(f"adjacency matrices must be numeric; got dtype {x.dtype}")
            x = x.astype(np.float64)
            loops = np.abs(np.diagonal(x, axis1=1, axis2=2)).sum(1) > 0
            if loops.any():
                raise DataError(
                    f"graph {int(np.argmax(loops))} has a self-loop (a nonzero diagonal); "
                    "an ERGM's graphs are simple: set the diagonal to 0"
                )
            asym = (x != np.swapaxes(x, 1, 2)).any((1, 2))
            if asym.any():
                raise DataError(
                    f"graph {int(np.argmax(asym))}: its adjacency matrix is not symmetric; "
                    "the graphs are undirected (symmetrise it with np.maximum(a, a.T))"
                )
            x = x[:, self.rows, self.cols]
        elif x.ndim >= 2 and x.shape[-2:] != (n, n) and x.shape[-1] != self.size:
            raise DataError(
                f"data must be adjacency matrices of shape (n, {n}, {n}) or dyad vectors "
                f"(n, {self.size}) for {self.name}; got shape {x.shape}"
            )
        return super().validate(x)

    def __repr__(self) -> str:
        return f"Graphs(num_nodes={self.num_nodes})"
