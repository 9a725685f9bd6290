"""The model zoo, one file per family. :data:`REGISTRY` maps CLI names to classes."""

from bayesgen.models.gaussian import Gaussian
from bayesgen.models.ising import Ising

REGISTRY = {"ising": Ising, "gaussian": Gaussian}

__all__ = ["REGISTRY", "Gaussian", "Ising"]
