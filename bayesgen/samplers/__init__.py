"""Data-space MCMC samplers, used for simulation, contrastive divergence and exchange."""

from bayesgen.samplers import (
    checkerboard,
    gibbs,
    hmc,
    langevin,
    mixing,
    multispin,
    swendsen_wang,
    tabulated,
)

__all__ = [
    "checkerboard",
    "gibbs",
    "hmc",
    "langevin",
    "mixing",
    "multispin",
    "swendsen_wang",
    "tabulated",
]
