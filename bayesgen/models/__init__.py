"""The model zoo, one file per family. :data:`REGISTRY` maps CLI names to classes."""

from bayesgen.models.gaussian import Gaussian
from bayesgen.models.ising import Ising
from bayesgen.models.von_mises_fisher import VonMisesFisher

REGISTRY = {"ising": Ising, "gaussian": Gaussian, "vmf": VonMisesFisher}

__all__ = ["REGISTRY", "Gaussian", "Ising", "VonMisesFisher"]
