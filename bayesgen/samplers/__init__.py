"""Data-space MCMC samplers, used for simulation, contrastive divergence and exchange."""

from bayesgen.samplers import checkerboard, gibbs, langevin

__all__ = ["checkerboard", "gibbs", "langevin"]
