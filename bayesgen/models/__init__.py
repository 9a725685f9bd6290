"""The model zoo, one file per family. :data:`REGISTRY` maps CLI names to classes."""

from bayesgen.models.boltzmann import BoltzmannMachine, petersen_edges
from bayesgen.models.conway_maxwell_poisson import ConwayMaxwellPoisson
from bayesgen.models.ebm2d import EBM2D
from bayesgen.models.ergm import ERGM
from bayesgen.models.gaussian import Gaussian
from bayesgen.models.ica import ICA
from bayesgen.models.ising import Ising
from bayesgen.models.rbm import RBM
from bayesgen.models.von_mises_fisher import VonMisesFisher

REGISTRY = {
    "ising": Ising,
    "gaussian": Gaussian,
    "vmf": VonMisesFisher,
    "cmp": ConwayMaxwellPoisson,
    "ica": ICA,
    "rbm": RBM,
    "boltzmann": BoltzmannMachine,
    "ebm2d": EBM2D,
    "ergm": ERGM,
}

__all__ = [
    "EBM2D",
    "ERGM",
    "ICA",
    "RBM",
    "REGISTRY",
    "BoltzmannMachine",
    "ConwayMaxwellPoisson",
    "Gaussian",
    "Ising",
    "VonMisesFisher",
    "petersen_edges",
]
