"""Minimum discrete Fisher divergence for count data (Matsubara et al. 2023).

    J(θ) = E_data Σ_i [ (f_θ(x - e_i)/f_θ(x))² 1{x_i ≥ 1} - 2 f_θ(x)/f_θ(x + e_i) ],

the discrete Fisher divergence between data and model up to a constant (see
:func:`bayesgen.losses.discrete_fisher_divergence`): ratios of f at neighbouring counts, so
Z(θ) is avoided. The counts' analogue of score matching, and the loss that
``generalized_bayes`` uses on counts. An M-estimator: sandwich standard errors.

Reference: T. Matsubara, J. Knoblauch, F.-X. Briol, C. J. Oates (2023), Generalised
Bayesian inference for discrete intractable likelihood, JASA (arXiv 2206.08420).
"""

from __future__ import annotations

from dataclasses import dataclass

from bayesgen import losses
from bayesgen.frequentist.base import Estimator, unsupported, z_free_alternatives


@dataclass(frozen=True)
class DiscreteFisher(Estimator):
    """Minimum discrete Fisher divergence for data on the counts."""

    name = "discrete_fisher"
    normalizer = "avoided: ratios of f between neighbouring counts"
    applies_to = staticmethod(losses.discrete_fisher_applies)

    def check(self, model) -> None:
        if not self.applies_to(model):
            raise unsupported(
                self,
                model,
                f"its data are {model.support.name}, not counts",
                z_free_alternatives(model),
            )

    def per_datum_loss(self, model, params, x, key, state):
        return losses.discrete_fisher_divergence(model, params, x)
