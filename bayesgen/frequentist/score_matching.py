"""Score matching (Hyvärinen 2005) for continuous data: exact, with the Hessian diagonal.

    J(θ) = E_data Σ_i [ ∂²_i log f_θ(x) + ½ (∂_i log f_θ(x))² ],

the Fisher divergence between data and model up to a constant, after integration by parts
(valid for densities that vanish at the boundary of R^d). Only derivatives of log f in x
appear: Z(θ) is avoided. The Hessian diagonal is taken exactly, one forward-over-reverse
product per coordinate, so cost grows as d times a gradient: meant for low dimension
(see sliced and denoising score matching otherwise). For a Gaussian it equals the MLE.
On the unit sphere the loss is its Riemannian form (:func:`bayesgen.losses.score_matching`).

Reference: A. Hyvärinen (2005), Estimation of non-normalized statistical models by score
matching, JMLR 6.
"""

from __future__ import annotations

from dataclasses import dataclass

from bayesgen import losses
from bayesgen.errors import MethodError
from bayesgen.frequentist.base import Estimator, unsupported, z_free_alternatives
from bayesgen.support import Reals


@dataclass(frozen=True)
class ScoreMatching(Estimator):
    """Exact score matching for real-valued data of any event shape.

    Args:
      curvature_penalty: λ of Kingma & LeCun's (2010) regulariser λ Σ_i (∂²_i log f)²
        (0: none; needed by network energies, whose unpenalised objective is unbounded
        below). Euclidean data only.
    """

    curvature_penalty: float = 0.0
    name = "score_matching"
    normalizer = "avoided: scores in x only"
    applies_to = staticmethod(losses.score_matching_applies)
    takes_curvature_penalty = True  # the sliced and denoising variants inherit the field only

    def check(self, model) -> None:
        if self.curvature_penalty and not self.takes_curvature_penalty:
            raise MethodError(
                f"{self.name} takes no curvature_penalty (it is score_matching's option); "
                f"leave it at 0"
            )
        if self.curvature_penalty < 0:
            raise MethodError(f"curvature_penalty must be >= 0; got {self.curvature_penalty}")
        if not self.applies_to(model):
            why = (
                f"its density is not smooth ({model!r})"
                if isinstance(model.support, Reals)
                else f"its data are {model.support.name}, not real"
            )
            raise unsupported(self, model, why, z_free_alternatives(model))
        if self.curvature_penalty and not isinstance(model.support, Reals):
            raise unsupported(
                self, model, "the curvature penalty is written for R^d only", "curvature_penalty=0"
            )

    def per_datum_loss(self, model, params, x, key, state):
        return losses.score_matching(model, params, x, self.curvature_penalty)
