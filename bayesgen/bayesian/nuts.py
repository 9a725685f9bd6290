"""NUTS on the exact posterior (Hoffman & Gelman 2014), through NumPyro.

The potential is the NumPyro model of :func:`bayesgen.bayesian.builder.numpyro_model`: the
prior plus Σ_i log f_θ(x_i) - n log Z(θ), with the model's exact, differentiable log Z
(enumeration, transfer matrix, closed form). Step size and a diagonal mass matrix adapt
during warm-up (NumPyro's defaults; ``dense_mass=True`` adapts a dense one, which pays on
strongly correlated posteriors of a few parameters, such as Conway–Maxwell–Poisson's).
"""

from __future__ import annotations

from dataclasses import dataclass

from numpyro.infer import NUTS as _NumPyroNUTS

from bayesgen.bayesian.base import PosteriorMethod
from bayesgen.bayesian.builder import numpyro_model
from bayesgen.errors import IntractableNormalizerError


@dataclass(frozen=True)
class NUTS(PosteriorMethod):
    """NUTS with NumPyro's defaults; ``target_accept_prob``, ``max_tree_depth`` and
    ``dense_mass`` as there."""

    target_accept_prob: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False
    name = "nuts"
    exact_likelihood = True

    def describe_normalizer(self, model) -> str:
        return model.normalizer  # e.g. "exact: transfer matrix"

    def check(self, model) -> None:
        if not model.has_exact_normalizer:
            raise IntractableNormalizerError(
                f"nuts needs an exact log Z, which {model!r} does not have; posterior methods "
                "that cope with an unknown Z: exchange, generalized_bayes, pseudo_posterior"
            )

    def kernel(self, model):
        return _NumPyroNUTS(
            numpyro_model(model),
            target_accept_prob=self.target_accept_prob,
            max_tree_depth=self.max_tree_depth,
            dense_mass=self.dense_mass,
        )

    def stat_fields(self):
        return ("accept_prob", "diverging", "num_steps", "potential_energy")
