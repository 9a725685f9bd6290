"""Ratio matching (Hyvärinen 2007) for binary data: a Z-free discrete score.

    J(θ) = E_data Σ_i g(p_θ(x) / p_θ(x̃^{(i)}))²,   g(u) = 1 / (1 + u),

with x̃^{(i)} the datum with site i flipped. The ratio p(x)/p(x̃) = f(x)/f(x̃) has no Z, and
g(p(x)/p(x̃^{(i)})) = p_θ(x̃_i | x_{-i}) = 1 - p_θ(x_i | x_{-i}), so the per-datum loss is
Σ_i (1 - exp(log p_θ(x_i | x_{-i})))², built from ``model.log_conditionals``. It is the
discrete Fisher divergence used for generalised Bayes by Matsubara et al. (2022,
arXiv 2206.08420) in its squared-ratio form. An M-estimator: sandwich standard errors.

Reference: A. Hyvärinen (2007), Some extensions of score matching, CSDA 51.
"""

from __future__ import annotations

from dataclasses import dataclass

from bayesgen import losses
from bayesgen.frequentist.pseudo_likelihood import PseudoLikelihood


@dataclass(frozen=True)
class RatioMatching(PseudoLikelihood):
    """Ratio matching for data on a finite support (its Brier-score form for more than two
    values: see :func:`bayesgen.losses.ratio_matching`)."""

    name = "ratio_matching"
    normalizer = "avoided: ratios of f between neighbouring configurations"

    site_loss = staticmethod(losses.ratio_matching)
