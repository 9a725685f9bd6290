"""The frequentist side: one optax fit driver and the estimators, one file each."""

from bayesgen.frequentist.base import Estimator, adam_cosine
from bayesgen.frequentist.conditional_nce import ConditionalNCE
from bayesgen.frequentist.contrastive_divergence import ContrastiveDivergence
from bayesgen.frequentist.denoising_score_matching import DenoisingScoreMatching
from bayesgen.frequentist.discrete_fisher import DiscreteFisher
from bayesgen.frequentist.driver import ESTIMATORS, FitResult, Replicates, fit, fit_replicates
from bayesgen.frequentist.exact_mle import ExactMLE
from bayesgen.frequentist.mcmle import MCMLE
from bayesgen.frequentist.nce import NCE
from bayesgen.frequentist.pseudo_likelihood import PseudoLikelihood
from bayesgen.frequentist.ratio_matching import RatioMatching
from bayesgen.frequentist.score_matching import ScoreMatching
from bayesgen.frequentist.sliced_score_matching import SlicedScoreMatching

__all__ = [
    "ESTIMATORS",
    "MCMLE",
    "NCE",
    "ConditionalNCE",
    "ContrastiveDivergence",
    "DenoisingScoreMatching",
    "DiscreteFisher",
    "Estimator",
    "ExactMLE",
    "FitResult",
    "PseudoLikelihood",
    "RatioMatching",
    "Replicates",
    "ScoreMatching",
    "SlicedScoreMatching",
    "adam_cosine",
    "fit",
    "fit_replicates",
]
