"""The Bayesian side: NumPyro posteriors when Z is known, and when it is not."""

from bayesgen.bayesian.base import PosteriorMethod
from bayesgen.bayesian.builder import numpyro_model
from bayesgen.bayesian.driver import (
    METHODS,
    PosteriorResult,
    ReplicatePosteriors,
    sample_posterior,
    sample_replicates,
)
from bayesgen.bayesian.evidence import EvidenceResult, log_evidence
from bayesgen.bayesian.exchange import Exchange, ExchangeKernel
from bayesgen.bayesian.generalized_bayes import GeneralizedBayes
from bayesgen.bayesian.nuts import NUTS
from bayesgen.bayesian.pseudo_posterior import PseudoPosterior

__all__ = [
    "METHODS",
    "NUTS",
    "EvidenceResult",
    "Exchange",
    "ExchangeKernel",
    "GeneralizedBayes",
    "PosteriorMethod",
    "PosteriorResult",
    "PseudoPosterior",
    "ReplicatePosteriors",
    "log_evidence",
    "numpyro_model",
    "sample_posterior",
    "sample_replicates",
]
