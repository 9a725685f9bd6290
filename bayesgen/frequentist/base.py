"""What every frequentist estimator is: a loss built from ``model.log_unnormalized``.

An estimator is a small frozen (hashable) object. ``loss(model, params, batch, key, state)``
is the mean over the batch of a per-datum loss; the fit driver
(:mod:`bayesgen.frequentist.driver`) is the only loop, and the sandwich covariance of an
M-estimator is formed from the per-datum gradients.

Two optional hooks cover the estimators that carry more than the model's parameters:

* **state** that is not optimised (persistent Markov chains, a reference sample):
  :meth:`Estimator.init_state` builds it from the data, :meth:`Estimator.update_state`
  advances it before each step (it may ask the driver to restart the optimiser, when the
  objective itself changed);
* **nuisance parameters** that are optimised with the model's but are not the model's (the
  free log normaliser of noise-contrastive estimation): :meth:`Estimator.nuisance_init`.
  The losses see them merged into ``params``; the result reports them separately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import optax

from bayesgen import losses
from bayesgen.errors import unsupported
from bayesgen.model import bijections, constrain, unconstrain
from bayesgen.optimizers import adam_cosine, lbfgs
from bayesgen.support import Reals, Sphere

__all__ = [
    "MIN_SANDWICH_DATA",
    "Estimator",
    "adam_cosine",
    "bijections",
    "constrain",
    "lbfgs",
    "unconstrain",
    "unsupported",
    "z_free_alternatives",
    "z_free_start_method",
]


def z_free_start_method(model) -> str | None:
    """The Z-free estimator whose fit starts a likelihood approximation (Monte Carlo MLE):
    :func:`bayesgen.losses.z_free_start` (pseudo-likelihood for finitely many values, the
    discrete Fisher divergence for counts, score matching for smooth real data), or None."""
    return losses.z_free_start(model)


def z_free_alternatives(model) -> str:
    """The Z-free estimators that do apply to ``model``, in words (for error messages)."""
    names, support = list(losses.applicable(model)), model.support
    if isinstance(support, Reals | Sphere) and names:
        names.append("nce")
    elif isinstance(support, Reals):  # a kinked density on R^d
        names += ["nce", "denoising_score_matching"]
    return " or ".join(names) if names else "exact_mle where log Z is exact"


# The sandwich's meat from n data is a covariance estimate with n - 1 degrees of freedom:
# its standard errors are off by about 1/sqrt(2(n - 1)) relative, 13% at n = 30 (and it is
# rank-deficient below n = d + 1). Below this the default is the observed information or
# the parametric bootstrap (see :mod:`bayesgen.frequentist.uncertainty`).
MIN_SANDWICH_DATA = 30


@dataclass(frozen=True)
class Estimator:
    """Base class. Subclasses set ``name``, ``normalizer`` and implement ``per_datum_loss``.

    Every estimator also takes two keyword-only options, its schedule, so that a configured
    estimator fits the same way wherever it is run (``bg.fit``, ``bg.compare``, studies, a
    model's ``default_methods``, the CLI): ``num_steps`` (None: the estimator's
    ``default_num_steps``) and ``optimizer`` (None: :meth:`default_optimizer`), an optax
    transformation or a function of the number of steps that returns one, so that a decaying
    learning rate follows ``num_steps`` (``functools.partial(adam_cosine, 0.01)``). The
    ``num_steps`` and ``optimizer`` arguments of :func:`bayesgen.fit` take precedence over
    both. Both are part of the estimator's identity, and compiled loops are cached on it: pass
    the same optimizer object (module-level, or from the cached :func:`adam_cosine`) to fits
    that should share compiled code.
    """

    num_steps: int | None = field(default=None, kw_only=True)
    optimizer: optax.GradientTransformation | Callable | None = field(
        default=None, kw_only=True, repr=False
    )

    name = "estimator"
    normalizer = ""
    is_m_estimator = True
    # The loss is the negative log-likelihood, exact or a Monte Carlo estimate of it, so the
    # information identity holds and the observed information gives standard errors from
    # one datum (see :mod:`bayesgen.frequentist.uncertainty`).
    is_likelihood = False
    default_num_steps = 100
    gradient_tolerance = 1e-6  # on the full-data gradient norm, for ``converged``
    # Stochastic losses (random projections, noise) draw their noise once per fit by
    # default (common random numbers: a deterministic objective that L-BFGS can minimise
    # and the sandwich can describe); set True to redraw it at every step.
    fresh_noise_each_step = False
    # Whether a vmapped study may stop each replicate at the gradient tolerance (a
    # deterministic objective with no state); otherwise it runs the full number of steps.
    stops_early = True

    def default_optimizer(self, num_steps: int) -> optax.GradientTransformation:
        """The optimiser used when the fit names none (the same object for the same
        arguments, so repeated fits share compiled code)."""
        return lbfgs()

    def describe_normalizer(self, model) -> str:
        """How this estimator handled Z for ``model``, in words (the result's ``normalizer``)."""
        return self.normalizer

    def check(self, model) -> None:
        """Raise if the estimator cannot apply to ``model``."""

    def start_method(self, model):
        """An estimator (alias) whose fit is this fit's starting point when none is given;
        None: the model's :meth:`~bayesgen.Model.initial_params`, else the origin."""
        return None

    def default_uncertainty(self, n: int, num_params: int) -> str:
        """Where standard errors come from when the fit names nothing: the sandwich from
        :data:`MIN_SANDWICH_DATA` data on (and more data
        than parameters); with fewer, the observed information of a likelihood, else the
        parametric bootstrap (which every estimator that minimises no objective uses)."""
        if not self.is_m_estimator:
            return "bootstrap"
        if n >= max(MIN_SANDWICH_DATA, num_params + 1):
            return "sandwich"
        return "observed_information" if self.is_likelihood else "bootstrap"

    def diagnostic_values(self, model, params, data, key, state) -> dict:
        """``{name: scalar}``: the numbers the estimator's own checks of a finished fit at
        ``params`` (model and nuisance parameters merged) are made from; jittable, so a
        replicate study computes them for every replicate in its vmapped fit. None here."""
        return {}

    def checks(self, values: dict, n: int) -> list:
        """The estimator's own checks, as :class:`bayesgen.diagnostics.Check`, from its
        :meth:`diagnostic_values` (as floats) of a fit to ``n`` data; none here."""
        return []

    def diagnose(self, model, params, data, key, state) -> list:
        """:meth:`checks` of :meth:`diagnostic_values` at a finished fit."""
        values = self.diagnostic_values(model, params, data, key, state)
        return self.checks({k: float(v) for k, v in values.items()}, data.shape[0])

    def nuisance_init(self, model, data) -> dict:
        """``{name: initial value}`` of nuisance parameters (real, unconstrained); none here."""
        return {}

    def init_state(self, model, params, data, key):
        """Non-optimised state the loss needs (a pytree); none here."""
        return ()

    def update_state(self, model, params, state, data, key, step):
        """Advance the state before the loss at ``step`` is taken; returns ``(state, restart)``
        where ``restart`` (a boolean) asks the driver to reset the optimiser's memory."""
        return state, jax.numpy.asarray(False)

    def gradient_noise_covariance(self, model, params_of, flat_v, state):
        """Covariance of the Monte Carlo error in the gradient of the full-data loss at
        ``flat_v`` (flat optimiser coordinates; ``params_of(flat_v)`` is the params dict), to be
        added to the sandwich's B/n; ``None`` when the loss has no Monte Carlo error."""
        return None

    def is_converged(self, grad_norm: float, loss_trace) -> bool:
        """Whether a finished fit converged (called on finite fits only)."""
        return grad_norm <= self.gradient_tolerance

    def per_datum_loss(self, model, params, x, key, state) -> jax.Array:
        raise NotImplementedError

    def per_datum_losses(self, model, params, batch, key, state=()) -> jax.Array:
        """:meth:`per_datum_loss` of every datum, each with its own key from ``key``."""
        keys = jax.random.split(key, batch.shape[0])
        return jax.vmap(self.per_datum_loss, (None, None, 0, 0, None))(
            model, params, batch, keys, state
        )

    def loss(self, model, params, batch, key, state=()) -> jax.Array:
        """Mean of :meth:`per_datum_loss` over ``batch`` (shape ``(n, *event_shape)``)."""
        return self.per_datum_losses(model, params, batch, key, state).mean()
