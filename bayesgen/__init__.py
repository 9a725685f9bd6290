"""bayesgen: fit models whose normalising constant cannot be computed, the frequentist way
and the Bayesian way, side by side.

float64 is not switched on here (no global config is flipped on import); exact checks of
log Z need it, so enable it at your entry point with
``jax.config.update("jax_enable_x64", True)``, as the CLI and the tests do.
"""

from bayesgen import (
    bayesian,
    datasets,
    evaluation,
    frequentist,
    models,
    normalizers,
    samplers,
    tables,
)
from bayesgen.bayesian import EvidenceResult, PosteriorResult, log_evidence, sample_posterior
from bayesgen.errors import (
    BayesgenError,
    DataError,
    IntractableNormalizerError,
    MethodError,
    ModelError,
    ParameterError,
)
from bayesgen.evaluation import Comparison, compare, coverage_study, sbc
from bayesgen.frequentist import FitResult, fit
from bayesgen.model import Model, Parametrization, ParamSpec, model
from bayesgen.support import Binary, Categorical, Counts, Graphs, Reals, Sphere, Spins, Support

__version__ = "0.1.0"

__all__ = [
    "BayesgenError",
    "Binary",
    "Categorical",
    "Comparison",
    "Counts",
    "DataError",
    "EvidenceResult",
    "FitResult",
    "Graphs",
    "IntractableNormalizerError",
    "MethodError",
    "Model",
    "ModelError",
    "ParamSpec",
    "ParameterError",
    "Parametrization",
    "PosteriorResult",
    "Reals",
    "Sphere",
    "Spins",
    "Support",
    "bayesian",
    "compare",
    "coverage_study",
    "datasets",
    "evaluation",
    "fit",
    "frequentist",
    "log_evidence",
    "model",
    "models",
    "normalizers",
    "sample_posterior",
    "samplers",
    "sbc",
    "tables",
]
