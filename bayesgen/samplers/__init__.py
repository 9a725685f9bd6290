"""Data-space MCMC samplers, used for simulation, contrastive divergence and exchange."""

from bayesgen.samplers import checkerboard

__all__ = ["checkerboard"]
