"""Generalised Bayes with a Z-free loss (Bissiri, Holmes & Walker 2016; Matsubara et al.
2022, 2023), sampled with NUTS.

    π_w(θ | x) ∝ π(θ) exp(-w Σ_i ℓ(θ; x_i)),

with ℓ a loss that needs no normaliser: ratio matching, the bounded discrete Fisher
divergence, for two-valued data; the discrete Fisher divergence for counts; score
matching, the Fisher divergence, for real data and the sphere (all from
:mod:`bayesgen.losses`). The loss is not a log-likelihood, so its scale is
arbitrary and the weight w sets how concentrated the posterior is. By default w is
calibrated as Matsubara et al. (2023) do, following Lyddon, Holmes & Walker (2019): at the
loss minimiser θ̂, with H the Hessian of the mean loss and J the covariance of the
per-datum loss gradients,

    w = tr(H J⁻¹ H) / tr(H),

which matches the trace of the generalised posterior's precision, w n H, to that of the
minimiser's sampling distribution, n H J⁻¹ H (the sandwich). For a log-likelihood loss
H = J and w = 1. Everything is computed in unconstrained coordinates, once per dataset,
and reported in ``PosteriorResult.info["weight"]``; pass ``weight=`` to fix it instead.

References: P. G. Bissiri, C. C. Holmes, S. G. Walker (2016), A general framework for
updating belief distributions, JRSS B 78. S. P. Lyddon, C. C. Holmes, S. G. Walker (2019),
General Bayesian updating and the loss-likelihood bootstrap, Biometrika 106.
T. Matsubara, J. Knoblauch, F.-X. Briol, C. J. Oates (2022), Robust generalised Bayesian
inference for intractable likelihoods, JRSS B 84; (2023) Generalised Bayesian inference
for discrete intractable likelihood, JASA.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpyro
from numpyro.infer import NUTS as _NumPyroNUTS

from bayesgen import losses
from bayesgen._compiled import per_model
from bayesgen.bayesian import modes
from bayesgen.bayesian.base import PosteriorMethod, unsupported

# Per-datum scoring rules: pseudo-likelihood is not one (its terms are conditionals of a
# whole datum, fine as a loss but not the proper scoring rule that the weight calibration
# of Lyddon et al. assumes), so on finitely many values the auto choice is ratio matching.
LOSSES = {k: losses.BY_NAME[k] for k in ("ratio_matching", "discrete_fisher", "score_matching")}


@dataclass(frozen=True)
class GeneralizedBayes(PosteriorMethod):
    """The generalised posterior of a Z-free loss, sampled with NUTS.

    Args:
      loss: ``"ratio_matching"`` (two-valued data), ``"discrete_fisher"`` (counts),
        ``"score_matching"`` (real data, the sphere) or ``"auto"`` (the one that fits the
        model's support).
      weight: the loss weight w; ``None`` calibrates it (see the module docstring).
      target_accept_prob, max_tree_depth, dense_mass: NUTS settings, as in NumPyro.
    """

    loss: str = "auto"
    weight: float | None = None
    target_accept_prob: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False
    name = "generalized_bayes"

    def loss_name(self, model) -> str | None:
        """The loss used: ``loss``, or for ``"auto"`` the one that fits the model (None if
        none does)."""
        if self.loss != "auto":
            return self.loss
        fitting = [name for name in losses.applicable(model) if name in LOSSES]
        return fitting[0] if fitting else None

    def describe_normalizer(self, model) -> str:
        how = "fixed" if self.weight is not None else "calibrated (Lyddon et al. 2019)"
        return f"avoided: {self.loss_name(model)} loss, weight {how}"

    def check(self, model) -> None:
        loss = self.loss_name(model)
        if loss is None:
            raise unsupported(
                self,
                model,
                f"no Z-free loss is written for it ({model.support.name}"
                + ("" if model.smooth else ", a density with kinks")
                + ")",
                "nuts or exchange",
            )
        if loss not in LOSSES:
            raise unsupported(self, model, f"unknown loss {loss!r}", ", ".join(LOSSES))
        if loss == "ratio_matching" and not model.support.finite:
            raise unsupported(
                self, model, "ratio matching needs finitely many values", "loss='auto'"
            )
        if loss == "score_matching" and not losses.score_matching_applies(model):
            raise unsupported(
                self, model, "score matching needs real data and a smooth density", "loss='auto'"
            )
        if loss == "discrete_fisher" and not losses.discrete_fisher_applies(model):
            raise unsupported(
                self, model, "the discrete Fisher divergence needs counts", "loss='auto'"
            )
        if self.weight is not None and not self.weight > 0:
            raise unsupported(
                self, model, f"the weight must be positive; got {self.weight}", "weight=None"
            )

    def kernel(self, model):
        loss = LOSSES[self.loss_name(model)]

        def fn(data, weight, **_):
            params = {name: numpyro.sample(name, prior) for name, prior in model.prior.items()}
            numpyro.factor("loss", -weight * losses.total(loss, model, params, data))

        return _NumPyroNUTS(
            fn,
            target_accept_prob=self.target_accept_prob,
            max_tree_depth=self.max_tree_depth,
            dense_mass=self.dense_mass,
        )

    def prepare(self, model, data, key) -> dict:
        if self.weight is not None:
            return {"weight": jnp.asarray(self.weight, data.dtype)}
        d = modes.unconstrained_zeros(model, data.dtype)[0].size
        if data.shape[0] <= d + 1:
            raise unsupported(
                self,
                model,
                f"calibrating the weight needs more data than parameters + 1 ({d + 1}); got "
                f"{data.shape[0]}",
                "a fixed weight=",
            )
        return _calibration(model, self.loss_name(model))(data)

    def check_prepared(self, model, extras: dict) -> None:
        weight = float(extras["weight"])
        if not weight > 0 or weight == float("inf"):
            raise unsupported(self, model, f"the calibrated weight is {weight}", "a fixed weight=")

    def describe_info(self, model, extras: dict) -> dict:
        out = {"weight": extras["weight"]}
        if "minimizer" in extras:
            out.update(modes.labelled(model, "loss_minimizer", extras["minimizer"]))
        return out

    def stat_fields(self):
        return ("accept_prob", "diverging", "num_steps", "potential_energy")


@per_model
def _calibration(model, loss_name):
    """A jitted ``data -> {"weight", "minimizer"}`` for (model, loss)."""
    loss = LOSSES[loss_name]

    @jax.jit
    def calibrate(data):
        z_hat, hess, info = modes.z_free_fit(model, loss, data)
        # pinv: a unit vector's radius is a direction neither curves (both are singular there)
        weight = jnp.trace(hess @ jnp.linalg.pinv(info, hermitian=True) @ hess) / jnp.trace(hess)
        return {"weight": weight, "minimizer": z_hat}

    return calibrate
