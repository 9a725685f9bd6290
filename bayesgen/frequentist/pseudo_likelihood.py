"""Maximum pseudo-likelihood (Besag 1975) for discrete models.

    PL(θ; x) = Π_i p_θ(x_i | x_{-i}),   p_θ(x_i | x_{-i}) = f_θ(x) / Σ_{v} f_θ(x with x_i = v).

Each conditional is a ratio of unnormalised densities, so Z(θ) cancels: the normaliser is
*avoided*. The loss is -(1/n) Σ_data Σ_sites log p_θ(x_i | x_{-i}); it is an M-estimator, so
its standard errors come from the sandwich (Godambe) covariance. Conditionals come from
``model.log_conditionals`` (a fast closed form for the Ising model; a generic site-flip
evaluation for any two-valued support otherwise).

Reference: J. Besag (1975), Statistical analysis of non-lattice data, The Statistician 24.
"""

from __future__ import annotations

from dataclasses import dataclass

from bayesgen import losses
from bayesgen.frequentist.base import Estimator, unsupported, z_free_alternatives


@dataclass(frozen=True)
class PseudoLikelihood(Estimator):
    """Maximum pseudo-likelihood for data on a finite support (spins, bits, categories)."""

    name = "pseudo_likelihood"
    normalizer = "avoided: full conditionals only"

    def check(self, model) -> None:
        support = model.support
        if not support.finite:
            raise unsupported(
                self,
                model,
                f"its data are {support.name}, not a finite set of values",
                z_free_alternatives(model),
            )

    site_loss = staticmethod(losses.negative_log_pseudo_likelihood)

    def per_datum_loss(self, model, params, x, key, state):
        return self.site_loss(model, params, x)

    def loss(self, model, params, batch, key, state=()):
        """The mean loss, summed over the model's classes of sites where it has them (unless
        a subclass defines its own :meth:`per_datum_loss`)."""
        if type(self).per_datum_loss is not PseudoLikelihood.per_datum_loss:
            return super().loss(model, params, batch, key, state)
        return losses.total(self.site_loss, model, params, batch) / batch.shape[0]
