"""The frequentist side: one optax fit driver and the estimators, one file each."""

from bayesgen.frequentist.base import Estimator
from bayesgen.frequentist.driver import ESTIMATORS, FitResult, fit, fit_replicates
from bayesgen.frequentist.exact_mle import ExactMLE
from bayesgen.frequentist.pseudo_likelihood import PseudoLikelihood
from bayesgen.frequentist.ratio_matching import RatioMatching
from bayesgen.frequentist.score_matching import ScoreMatching
from bayesgen.frequentist.sliced_score_matching import SlicedScoreMatching

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "ExactMLE",
    "FitResult",
    "PseudoLikelihood",
    "RatioMatching",
    "ScoreMatching",
    "SlicedScoreMatching",
    "fit",
    "fit_replicates",
]
