"""Small real datasets shipped with bayesgen, each with its source in its docstring.

Networks (one observed graph each, the n = 1 case of an ERGM) are :class:`Network` s;
:func:`load` gives any dataset by name as the array a model takes, and :data:`NAMES` lists
them (the CLI's ``--data NAME``):

* ``florentine_marriage``, ``florentine_business``: Padgett's Florentine families
  (16 nodes, 20 and 15 ties; wealth, priorates and total ties as node attributes);
* ``karate_club``: Zachary's karate club (34 nodes, 78 ties; the two factions);
* ``digits_bits``: 1,797 handwritten digits as binary 8 x 8 images (an RBM's or a
  Boltzmann machine's data: 64 binary variables);
* ``horse_kicks``: Bortkiewicz's deaths by horse kick in the Prussian army (200 counts, for
  the count models).

Example:
  >>> import bayesgen as bg
  >>> net = bg.datasets.florentine_marriage()
  >>> net.num_nodes, int(net.adjacency.sum()) // 2, net.nodes[8]
  (16, 20, 'Medici')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from bayesgen.datasets.files import read_data
from bayesgen.errors import DataError

__all__ = [
    "NAMES",
    "NETWORKS",
    "Network",
    "digits_bits",
    "florentine_business",
    "florentine_marriage",
    "horse_kicks",
    "karate_club",
    "load",
    "network",
    "read_data",
]


@dataclass(frozen=True)
class Network:
    """One observed undirected network.

    Attributes:
      name: the dataset's name.
      adjacency: the ``(N, N)`` 0/1 adjacency matrix (symmetric, zero diagonal).
      nodes: the nodes' names, in the matrix's order.
      attributes: ``{name: values (N,)}``, numeric node attributes (for an ERGM's
        ``nodematch`` and ``nodecov`` terms: ``bg.models.ERGM(..., nodes=net.attributes)``).
      source: where the data come from.
    """

    name: str
    adjacency: np.ndarray
    nodes: tuple[str, ...]
    attributes: dict = field(default_factory=dict)
    source: str = ""

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    @property
    def num_ties(self) -> int:
        return int(self.adjacency.sum()) // 2

    def to_networkx(self):
        """The network as a ``networkx.Graph`` with its node attributes (needs networkx)."""
        import networkx as nx

        g = nx.Graph()
        for k, v in enumerate(self.nodes):
            g.add_node(v, **{a: float(x[k]) for a, x in self.attributes.items()})
        rows, cols = np.nonzero(np.triu(self.adjacency, 1))
        g.add_edges_from((self.nodes[i], self.nodes[j]) for i, j in zip(rows, cols, strict=True))
        return g


def _network(name, nodes, ties, attributes, source) -> Network:
    index = {v: k for k, v in enumerate(nodes)}
    a = np.zeros((len(nodes), len(nodes)))
    for u, v in ties:
        i, j = (index[u], index[v]) if isinstance(u, str) else (u, v)
        a[i, j] = a[j, i] = 1.0
    a.setflags(write=False)
    attrs = {}
    for k, x in attributes.items():
        arr = np.asarray(x, np.float64)
        arr.setflags(write=False)
        attrs[k] = arr
    return Network(name, a, tuple(nodes), attrs, source)


FLORENTINE_FAMILIES = (
    "Acciaiuoli", "Albizzi", "Barbadori", "Bischeri", "Castellani", "Ginori", "Guadagni",
    "Lamberteschi", "Medici", "Pazzi", "Peruzzi", "Pucci", "Ridolfi", "Salviati", "Strozzi",
    "Tornabuoni",
)  # fmt: skip

_FLORENTINE_ATTRIBUTES = {
    "wealth": (10, 36, 55, 44, 20, 32, 8, 42, 103, 48, 49, 3, 27, 10, 146, 48),
    "priorates": (53, 65, 0, 12, 22, 0, 21, 0, 53, 0, 42, 0, 38, 35, 74, 0),
    "totalties": (2, 3, 14, 9, 18, 9, 14, 14, 54, 7, 32, 1, 4, 5, 29, 7),
}

_FLORENTINE_SOURCE = (
    "Data collected by John F. Padgett (Padgett & Ansell 1993, Robust action and the rise of "
    "the Medici, 1400-1434, American Journal of Sociology 98(6); Padgett 1994), as distributed "
    "with UCINET and used by Breiger & Pattison (1986, Social Networks 8) and Wasserman & Faust "
    "(1994, Social Network Analysis); ties and node attributes as in the R package ergm "
    "(datasets flomarriage and flobusiness)."
)

_MARRIAGE = (
    ("Acciaiuoli", "Medici"), ("Albizzi", "Ginori"), ("Albizzi", "Guadagni"),
    ("Albizzi", "Medici"), ("Barbadori", "Castellani"), ("Barbadori", "Medici"),
    ("Bischeri", "Guadagni"), ("Bischeri", "Peruzzi"), ("Bischeri", "Strozzi"),
    ("Castellani", "Peruzzi"), ("Castellani", "Strozzi"), ("Guadagni", "Lamberteschi"),
    ("Guadagni", "Tornabuoni"), ("Medici", "Ridolfi"), ("Medici", "Salviati"),
    ("Medici", "Tornabuoni"), ("Pazzi", "Salviati"), ("Peruzzi", "Strozzi"),
    ("Ridolfi", "Strozzi"), ("Ridolfi", "Tornabuoni"),
)  # fmt: skip

_BUSINESS = (
    ("Barbadori", "Castellani"), ("Barbadori", "Ginori"), ("Barbadori", "Medici"),
    ("Barbadori", "Peruzzi"), ("Bischeri", "Guadagni"), ("Bischeri", "Lamberteschi"),
    ("Bischeri", "Peruzzi"), ("Castellani", "Lamberteschi"), ("Castellani", "Peruzzi"),
    ("Ginori", "Medici"), ("Guadagni", "Lamberteschi"), ("Lamberteschi", "Peruzzi"),
    ("Medici", "Pazzi"), ("Medici", "Salviati"), ("Medici", "Tornabuoni"),
)  # fmt: skip


def _florentine(name: str, ties) -> Network:
    return _network(name, FLORENTINE_FAMILIES, ties, _FLORENTINE_ATTRIBUTES, _FLORENTINE_SOURCE)


def florentine_marriage() -> Network:
    """Marriage alliances among 16 Florentine families around 1430 (Padgett): 20 ties,
    Pucci an isolate. Node attributes: ``wealth`` (net wealth in 1427, thousands of lira),
    ``priorates`` (seats on the civic council, 1282-1344), ``totalties`` (business or
    marriage ties in the whole dataset of 116 families).

    Source: Padgett & Ansell (1993), Padgett (1994), via UCINET; Breiger & Pattison (1986);
    Wasserman & Faust (1994). As the R package ergm's ``flomarriage``."""
    return _florentine("florentine_marriage", _MARRIAGE)


def florentine_business() -> Network:
    """Business ties (loans, credits, joint partnerships) among the same 16 families: 15
    ties; Acciaiuoli, Albizzi, Pucci, Ridolfi and Strozzi isolates. Node attributes as
    :func:`florentine_marriage`. Source as there (ergm's ``flobusiness``)."""
    return _florentine("florentine_business", _BUSINESS)


_KARATE = (
    (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10), (0, 11), (0, 12),
    (0, 13), (0, 17), (0, 19), (0, 21), (0, 31), (1, 2), (1, 3), (1, 7), (1, 13), (1, 17),
    (1, 19), (1, 21), (1, 30), (2, 3), (2, 7), (2, 8), (2, 9), (2, 13), (2, 27), (2, 28),
    (2, 32), (3, 7), (3, 12), (3, 13), (4, 6), (4, 10), (5, 6), (5, 10), (5, 16), (6, 16),
    (8, 30), (8, 32), (8, 33), (9, 33), (13, 33), (14, 32), (14, 33), (15, 32), (15, 33),
    (18, 32), (18, 33), (19, 33), (20, 32), (20, 33), (22, 32), (22, 33), (23, 25), (23, 27),
    (23, 29), (23, 32), (23, 33), (24, 25), (24, 27), (24, 31), (25, 31), (26, 29), (26, 33),
    (27, 33), (28, 31), (28, 33), (29, 32), (29, 33), (30, 32), (30, 33), (31, 32), (31, 33),
    (32, 33),
)  # fmt: skip

_KARATE_FACTION = (
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1,
)  # fmt: skip


def karate_club() -> Network:
    """Friendships among 34 members of a university karate club (Zachary 1977): 78 ties.
    Node attribute ``faction``: 0 for the members who followed the instructor (node 0,
    "Mr. Hi") when the club split, 1 for those who followed the officer (node 33).

    Source: W. W. Zachary (1977), An information flow model for conflict and fission in small
    groups, Journal of Anthropological Research 33(4); the ties and factions as in networkx's
    ``karate_club_graph`` (BSD licence)."""
    return _network(
        "karate_club",
        tuple(str(k) for k in range(34)),
        _KARATE,
        {"faction": _KARATE_FACTION},
        "Zachary (1977), Journal of Anthropological Research 33(4), via networkx",
    )


def digits_bits() -> tuple[np.ndarray, np.ndarray]:
    """``(images (1797, 64), labels (1797,))``: the handwritten digits of the UCI optical
    recognition data set (its test set, as shipped by scikit-learn's ``load_digits``), each
    8 x 8 image of counts 0..16 made binary at half intensity (a pixel is 1 where its count
    is at least 8), flattened row by row. 32% of the pixels are 1.

    Source: E. Alpaydin, C. Kaynak (1998), Optical Recognition of Handwritten Digits, UCI
    Machine Learning Repository (CC BY 4.0)."""
    with resources.files(__package__).joinpath("digits_bits.npz").open("rb") as f:
        stored = np.load(f)
        bits = np.unpackbits(stored["bits"], axis=1)[:, :64].astype(np.float64)
        labels = stored["labels"].astype(np.int64)
    return bits, labels


_HORSE_KICKS = {0: 109, 1: 65, 2: 22, 3: 3, 4: 1}


def horse_kicks() -> np.ndarray:
    """Deaths by horse kick per army corps and year in the Prussian cavalry, 10 corps over 20
    years (1875-1894): 200 counts, mean 0.61 and variance 0.61 (the textbook Poisson data).

    Source: L. von Bortkiewicz (1898), Das Gesetz der kleinen Zahlen, Leipzig: Teubner; the
    frequency table (0: 109, 1: 65, 2: 22, 3: 3, 4: 1) as in R. A. Fisher (1925), Statistical
    Methods for Research Workers. Public domain."""
    return np.repeat(np.arange(5.0), [_HORSE_KICKS[k] for k in range(5)])


_NETWORKS = {
    "florentine_marriage": florentine_marriage,
    "florentine_business": florentine_business,
    "karate_club": karate_club,
}
NETWORKS = tuple(_NETWORKS)
"""The shipped networks, by name (:func:`network`)."""
NAMES = (*NETWORKS, "digits_bits", "horse_kicks")
"""Every shipped dataset, by the name :func:`load` and the CLI's ``--data`` take."""


def network(name: str) -> Network:
    """A shipped network by name (one of :data:`NETWORKS`)."""
    if name not in _NETWORKS:
        raise DataError(f"{name!r} is not a shipped network; they are: {', '.join(NETWORKS)}")
    return _NETWORKS[name]()


def load(name: str):
    """A shipped dataset by name, as a model's data: a network's ``(1, N, N)`` adjacency
    matrix (one observed graph), the digits' ``(1797, 64)`` bits, the horse kicks' ``(200,)``
    counts. :func:`florentine_marriage` and the others give the whole record."""
    if name in _NETWORKS:
        return _NETWORKS[name]().adjacency[None]
    if name == "digits_bits":
        return digits_bits()[0]
    if name == "horse_kicks":
        return horse_kicks()
    raise DataError(f"unknown dataset {name!r}; shipped: {', '.join(NAMES)}")
