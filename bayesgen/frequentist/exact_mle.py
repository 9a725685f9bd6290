"""Exact maximum likelihood: minimise -(1/n) Σ_i [log f_θ(x_i)] + log Z(θ), with the model's
exact log Z (enumeration, transfer matrix, closed form)."""

from __future__ import annotations

from dataclasses import dataclass

from bayesgen.errors import IntractableNormalizerError
from bayesgen.frequentist.base import Estimator


@dataclass(frozen=True)
class ExactMLE(Estimator):
    """Exact MLE; the sandwich covariance reduces to the inverse observed information."""

    name = "exact_mle"
    is_likelihood = True

    def describe_normalizer(self, model) -> str:
        return model.normalizer  # e.g. "exact: transfer matrix"

    def check(self, model) -> None:
        if not model.has_exact_normalizer:
            raise IntractableNormalizerError(
                f"exact_mle needs an exact log Z, which {model!r} does not have; estimators that "
                "avoid or approximate Z: pseudo_likelihood, ratio_matching (discrete data), "
                "score_matching (real data)"
            )

    def per_datum_loss(self, model, params, x, key, state):
        return -(model.log_f(params, x) - model.log_z(params))
