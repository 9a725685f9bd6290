"""The fit driver: one optax loop for every estimator, compiled as a ``lax.scan``.

Parameters are optimised in unconstrained space (``biject_to`` of each parameter's
constraint) and reported in their own space. The loop runs in equal chunks of one compiled
scan (one chunk unless a progress bar is shown, so no host callback sits in the hot loop);
a non-finite loss or parameter freezes the fit and records the step. The compiled loop is
cached by JAX on (model, estimator, optimiser, lengths): a new dataset of the same shape
reuses it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from bayesgen._compiled import jit as compiled_jit
from bayesgen._engine import (
    Spread,
    compile_timed,
    device_description,
    progress_bar,
    show_progress,
    spread_call,
)
from bayesgen._keys import replicate_keys
from bayesgen._xla import RUN_ONCE
from bayesgen.diagnostics import Check, checks_by_name, stderr_check, verdict, verdicts
from bayesgen.errors import MethodError, resolve_method
from bayesgen.frequentist.base import Estimator, constrain, unconstrain
from bayesgen.frequentist.conditional_nce import ConditionalNCE
from bayesgen.frequentist.contrastive_divergence import ContrastiveDivergence
from bayesgen.frequentist.denoising_score_matching import DenoisingScoreMatching
from bayesgen.frequentist.discrete_fisher import DiscreteFisher
from bayesgen.frequentist.exact_mle import ExactMLE
from bayesgen.frequentist.mcmle import MCMLE
from bayesgen.frequentist.nce import NCE
from bayesgen.frequentist.pseudo_likelihood import PseudoLikelihood
from bayesgen.frequentist.ratio_matching import RatioMatching
from bayesgen.frequentist.score_matching import ScoreMatching
from bayesgen.frequentist.sliced_score_matching import SlicedScoreMatching
from bayesgen.frequentist.uncertainty import (
    bootstrap_covariance,
    flat_names,
    loss_hessian,
    sandwich_covariance,
)

ESTIMATORS: dict[str, type[Estimator]] = {
    "exact_mle": ExactMLE,
    "pseudo_likelihood": PseudoLikelihood,
    "contrastive_divergence": ContrastiveDivergence,
    "mcmle": MCMLE,
    "ratio_matching": RatioMatching,
    "discrete_fisher": DiscreteFisher,
    "score_matching": ScoreMatching,
    "sliced_score_matching": SlicedScoreMatching,
    "denoising_score_matching": DenoisingScoreMatching,
    "nce": NCE,
    "conditional_nce": ConditionalNCE,
}
UNCERTAINTY = ("sandwich", "observed_information", "bootstrap", "none")


def resolve(method) -> Estimator:
    """An estimator object from a string alias or an :class:`Estimator` instance."""
    return resolve_method(method, Estimator, ESTIMATORS, "frequentist")


@dataclass
class FitResult:
    """The result of :func:`fit`.

    Attributes:
      params: ``{name: estimate}`` in the parameters' own space.
      stderr: ``{name: standard error}``, same shapes.
      cov: the ``(d, d)`` covariance of the flattened parameters, ordered as ``cov_names``.
      uncertainty: where ``stderr`` and ``cov`` come from (``"sandwich"``, ``"observed
        information"``, ``"parametric bootstrap (B of B refits; data by ...)"``, or
        ``"none"``: NaN, not computed).
      nuisance, nuisance_stderr: estimates of the estimator's own parameters (NCE's
        ``log_normalizer``, its estimate of log Z(θ̂)) and their standard errors; empty
        for most estimators.
      loss_trace: the loss at every step taken (NaN from a failure on); deterministic
        full-batch fits stop at the step taken where the gradient norm was within the
        estimator's tolerance, as :func:`fit_replicates` does.
      converged: no failure and the final gradient norm below the estimator's tolerance
        (for a density with kinks, or a loss that has settled; see :func:`_converged`).
      failed_step: the step at which the loss or parameters became non-finite, else None.
      diagnostics: ``{name: bayesgen.diagnostics.Check}``: the optimiser, the standard
        errors (finite and non-zero), and the estimator's own checks (Monte Carlo MLE's
        importance weights, NCE's classifier accuracy).
      ok, why: the verdict: every check passed; else the failed checks in words.
      method, side, normalizer, timing (compile and run seconds), device.
    """

    params: dict
    stderr: dict
    cov: np.ndarray
    cov_names: list[str]
    loss_trace: np.ndarray
    converged: bool
    failed_step: int | None
    grad_norm: float
    method: str
    normalizer: str
    timing: dict
    device: str
    uncertainty: str = "sandwich"
    nuisance: dict = field(default_factory=dict)
    nuisance_stderr: dict = field(default_factory=dict)
    side: str = "frequentist"
    diagnostics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every check of :attr:`diagnostics` passed."""
        return verdict(self.diagnostics)[0]

    @property
    def why(self) -> str:
        """The failed checks, in words ("" when :attr:`ok`)."""
        return verdict(self.diagnostics)[1]

    def to_arviz(self, num_draws: int = 1000, seed: int = 0):
        """An ArviZ DataTree whose ``posterior`` group holds ``num_draws`` draws (one chain) from
        the estimator's asymptotic sampling distribution N(estimate, cov), so that ArviZ plots
        can overlay it with Bayesian posteriors. Attributes record the method, side, how Z
        was handled, timing, device and convergence."""
        import arviz as az

        if self.uncertainty == "none":
            raise MethodError(
                "this fit has no sampling distribution (uncertainty='none'); refit with "
                "uncertainty='sandwich' or 'bootstrap' to draw from it"
            )
        flat = np.concatenate([np.ravel(self.params[k]) for k in sorted(self.params)])
        vals, vecs = np.linalg.eigh(self.cov)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        z = np.random.default_rng(seed).standard_normal((num_draws, flat.size))
        draws = flat + z @ root.T
        posterior, i = {}, 0
        for k in sorted(self.params):
            shape = np.shape(self.params[k])
            size = int(np.prod(shape))
            posterior[k] = draws[:, i : i + size].reshape(1, num_draws, *shape)
            i += size
        tree = az.from_dict({"posterior": posterior})
        attrs = {
            "method": self.method,
            "side": self.side,
            "normalizer": self.normalizer,
            "compile_s": self.timing["compile_s"],
            "run_s": self.timing["run_s"],
            "device": self.device,
            "converged": int(self.converged),
            "ok": int(self.ok),
            "why": self.why,
            "uncertainty": self.uncertainty,
            "draws": f"sampling distribution N(estimate, covariance from {self.uncertainty})",
        }
        tree.attrs.update(attrs)
        tree["posterior"].attrs.update(attrs)
        return tree

    def interval(self, level: float = 0.95) -> dict:
        """Wald intervals ``{name: (lower, upper)}`` at ``level``."""
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return {
            k: (self.params[k] - z * self.stderr[k], self.params[k] + z * self.stderr[k])
            for k in self.params
        }


def _converged(model, est, grad_norm, loss_trace, n, batch_size) -> bool:
    """The estimator's criterion (the gradient norm below its tolerance); for a density with
    kinks (``model.smooth`` False), whose gradient jumps by O(1/n) across them and never
    reaches the tolerance, also a settled loss: a deterministic, full-batch objective whose
    values over the last tenth of the steps (at least 5) all lie within 0.005/n. A remaining
    decrease ε moves the estimate by about √(2ε/h), under a tenth of its standard error
    1/√(n h)."""
    if est.is_converged(grad_norm, loss_trace):
        return True
    trace = np.asarray(loss_trace)
    deterministic = est.stops_early and not est.fresh_noise_each_step and batch_size is None
    if model.smooth or not deterministic or trace.size < 5:
        return False
    tail = trace[-max(5, trace.size // 10) :]
    return bool(np.all(np.isfinite(tail)) and np.ptp(tail) <= 0.005 / n)


def _initial_unconstrained(model, init, dtype):
    """``init`` (else ``model.initial_params()``) mapped to unconstrained space, or else
    the origin of the model's :class:`~bayesgen.model.Parametrization` (zeros where the
    bijection allows)."""
    if init is None:
        init = model.initial_params()
    coordinates = model.parametrization()
    if init is not None:
        return coordinates.unconstrain(model.check_params(init))
    return coordinates.origin(dtype)


def _initial_point(model, est, init, data, *, start=True):
    """``v = (unconstrained params, nuisance params)``, the point the optimiser moves: from
    ``init``, else (with ``start``) the fit of the estimator's
    :meth:`~Estimator.start_method`, else the model's initial parameters or the origin."""
    start = est.start_method(model) if init is None and start else None
    if start is not None:
        init = fit(model, data, start, uncertainty="none", progress=False).params
    nuisance = {k: jnp.asarray(x, data.dtype) for k, x in est.nuisance_init(model, data).items()}
    clash = set(nuisance) & set(model.param_names)
    if clash:
        raise MethodError(f"{est.name}: nuisance parameters {sorted(clash)} clash with the model's")
    return _initial_unconstrained(model, init, data.dtype), nuisance


def _merge(model, v):
    """The params dict the losses see: the model's (constrained) and the nuisance ones."""
    u, nuisance = v
    return {**constrain(model, u), **nuisance}


def _initial_carry(opt, v0, state0):
    """(v, previous v, optimiser state, step, failed step or -1, estimator state)."""
    zero = jnp.zeros((), jnp.int32)
    return (v0, v0, opt.init(v0), zero, zero - 1, state0)


def _make_step(model, est, opt, batch_size, data, key):
    """One optimiser step on the carry of :func:`_initial_carry`; returns
    ``(carry, loss at v, gradient norm at v)``.

    The estimator's state is advanced first (it may restart the optimiser's memory). When
    the loss at ``v`` (or the update) is non-finite, the fit freezes at the previous point,
    the last whose loss was finite, and records the step."""
    n = data.shape[0]

    def step_fn(carry):
        v, prev, opt_state, step, failed, state = carry
        state_key, batch_key, noise_key = jax.random.split(jax.random.fold_in(key, step), 3)
        current = jax.lax.stop_gradient(_merge(model, v))
        state, restart = est.update_state(model, current, state, data, state_key, step)
        opt_state = jax.tree.map(lambda a, b: jnp.where(restart, a, b), opt.init(v), opt_state)
        k = noise_key if est.fresh_noise_each_step else key
        batch = data
        if batch_size is not None:
            batch = data[jax.random.choice(batch_key, n, (batch_size,), replace=False)]

        def objective(w):
            return est.loss(model, _merge(model, w), batch, k, state)

        value, grad = jax.value_and_grad(objective)(v)
        if isinstance(opt, optax.GradientTransformationExtraArgs):  # L-BFGS's line search
            extra = {"value": value, "grad": grad, "value_fn": objective}
        else:
            extra = {}
        updates, new_state = opt.update(grad, opt_state, v, **extra)
        new_v = optax.apply_updates(v, updates)
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(ravel_pytree(new_v)[0]))
        ok = finite & (failed < 0)
        newly_failed = ~finite & (failed < 0)
        keep = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
        frozen = jax.tree.map(lambda p, c: jnp.where(newly_failed, p, c), prev, v)
        new_prev = jax.tree.map(keep, v, prev)
        v = jax.tree.map(keep, new_v, frozen)
        opt_state = jax.tree.map(keep, new_state, opt_state)
        failed = jnp.where(newly_failed, step, failed)
        grad_norm = jnp.linalg.norm(ravel_pytree(grad)[0])
        return (v, new_prev, opt_state, step + 1, failed, state), value, grad_norm

    return step_fn


def _run_steps(model, est, opt, length, batch_size, stop_early, carry, done, data, key):
    """``length`` optimiser steps as one scan; the loss trace is NaN from a failure on.

    With ``stop_early`` it is a ``while_loop`` that ends after the step taken at a gradient
    norm within the estimator's tolerance (``done`` is carried from chunk to chunk; the
    trace is NaN past the end), the rule of :func:`_run_to_tolerance`, so a single fit and
    a replicate study stop alike."""
    step_fn = _make_step(model, est, opt, batch_size, data, key)

    def step(carry):
        carry, value, grad_norm = step_fn(carry)
        return carry, jnp.where(carry[4] < 0, value, jnp.nan), grad_norm

    if not stop_early:

        def body(carry, _):
            carry, value, _ = step(carry)
            return carry, value

        carry, trace = jax.lax.scan(body, carry, None, length=length)
        return (carry, done), trace

    def cond(state):
        _, done, _, i = state
        return (i < length) & ~done

    def body_early(state):
        carry, done, trace, i = state
        carry, value, grad_norm = step(carry)
        return carry, done | (grad_norm <= est.gradient_tolerance), trace.at[i].set(value), i + 1

    value_shape = jax.eval_shape(step, carry)[1]
    trace = jnp.full((length,), jnp.nan, value_shape.dtype)
    carry, done, trace, _ = jax.lax.while_loop(cond, body_early, (carry, done, trace, 0))
    return (carry, done), trace


def _full_gradient_norm(model, est, v, data, key, state):
    g = jax.grad(lambda w: est.loss(model, _merge(model, w), data, key, state))(v)
    return jnp.linalg.norm(ravel_pytree(g)[0])


def _finish(model, est, how, v, data, key, state):
    """What a finished fit at ``v`` is judged by, in one computation: the full-data gradient
    norm, the sandwich or observed-information covariance (``how``; None otherwise), the
    estimator's :meth:`~bayesgen.frequentist.base.Estimator.diagnostic_values`, and
    :func:`_maximum_values` where they apply (else ``{}``)."""
    grad_norm = _full_gradient_norm(model, est, v, data, key, state)
    sandwich = how in ("sandwich", "observed_information")
    maximum = _checks_maximum(model, est) and how != "none"
    hess = loss_hessian(est, model, v, data, key, state) if sandwich or maximum else None
    cov = None
    if sandwich:
        information = how == "observed_information"
        cov = sandwich_covariance(
            est, model, v, data, key, state, information=information, hess=hess
        )
    values = est.diagnostic_values(model, _merge(model, v), data, key, state)
    maximum = _maximum_values(model, est, v, data, key, state, hess) if maximum else {}
    return grad_norm, cov, values, maximum


# The objective's rise at ±MAXIMUM_STEP "information standard errors" along a direction is
# ½ MAXIMUM_STEP² / n where it is quadratic; below MIN_RISE of that on either side, the
# estimate is no maximum that a Wald interval can describe.
MAXIMUM_STEP = 2.0
MIN_RISE = 0.25


def _checks_maximum(model, est) -> bool:
    """Whether :func:`_maximum_values` applies: a deterministic objective (an M-estimator
    whose noise is drawn once) of a smooth density (and not with ``uncertainty="none"``:
    its Hessian costs what a sandwich costs, which that option is there to skip)."""
    return est.is_m_estimator and not est.fresh_noise_each_step and model.smooth


def _maximum_values(model, est, v, data, key, state, hess) -> dict:
    """How the objective rises beyond the estimate ``v`` (its Hessian ``hess`` from
    :func:`~bayesgen.frequentist.uncertainty.loss_hessian`) in the two directions where a
    maximum at infinity shows: the flattest direction of its Hessian H (eigenvalues within
    1e-10 of the largest in size are null directions, a unit vector's radius, and are
    skipped) and the direction in which it still falls (minus its gradient: a convex loss
    that approaches its infimum along a ray curves upward in every eigen-direction, and
    falls only along the ray). Along each unit direction u, the steps ``±MAXIMUM_STEP /
    sqrt(n uᵀHu)``; returns the smaller rise on each side (``rise_low``, ``rise_high``) as
    fractions of the quadratic ½ MAXIMUM_STEP² / n, and ``direction``, the flat coordinate
    that the worse direction moves most."""
    flat_v, unravel = ravel_pytree(v)

    def objective(t):
        return est.loss(model, _merge(model, unravel(t)), data, key, state)

    base, grad = jax.value_and_grad(objective)(flat_v)
    lam, vecs = jnp.linalg.eigh(0.5 * (hess + hess.T))
    scale = jnp.max(jnp.abs(lam))
    identified = jnp.abs(lam) > 1e-10 * scale
    flattest = vecs[:, jnp.argmin(jnp.where(identified, lam, jnp.inf))]
    norm = jnp.linalg.norm(grad)
    falling = jnp.where(norm > 0, -grad / jnp.where(norm > 0, norm, 1.0), flattest)
    n = data.shape[0]
    quadratic = 0.5 * MAXIMUM_STEP**2 / n

    def rises(u):
        step = MAXIMUM_STEP / jnp.sqrt(n * jnp.abs(u @ hess @ u))
        return jnp.stack([objective(flat_v + s * step * u) - base for s in (-1.0, 1.0)])

    r = jax.vmap(rises)(jnp.stack([flattest, falling])) / quadratic  # (direction, side)
    worse = jnp.argmin(jnp.min(r, axis=1))
    r = jnp.where(scale == 0, 0.0, r)  # no curvature at all: the objective is flat here
    return {
        "rise_low": r[worse, 0],
        "rise_high": r[worse, 1],
        "direction": jnp.argmax(jnp.abs(jnp.stack([flattest, falling])[worse])),
    }


def _maximum_check(values: dict, names: list[str]) -> Check:
    """The ``maximum`` check from :func:`_maximum_values` (as floats); ``names`` label the
    flat coordinates (unconstrained parameters, then nuisance parameters)."""
    low, high = values["rise_low"], values["rise_high"]
    worst = min(low, high)
    if low >= MIN_RISE and high >= MIN_RISE:  # a NaN fails, a rise to +inf passes
        return Check(
            "maximum",
            True,
            worst,
            f"the objective rises on both sides of the estimate ({low:.2f} and {high:.2f} of "
            f"the quadratic rise {MAXIMUM_STEP:g} standard errors out)",
        )
    name = names[int(values["direction"])]
    return Check(
        "maximum",
        False,
        worst,
        f"the objective does not rise beyond the estimate along {name}: {low:.2g} and "
        f"{high:.2g} of the quadratic rise {MAXIMUM_STEP:g} standard errors out on either "
        "side. The maximum may lie at infinity (data on the edge of what the model can "
        "produce, such as an all-aligned lattice, have no finite estimate), or the objective "
        "is too far from quadratic for a Wald interval; check the data, or use a posterior "
        "with a proper prior",
    )


def _flat_coordinate_names(v) -> list[str]:
    """Names of ``ravel_pytree(v)``'s coordinates, ``v = (unconstrained params, nuisance)``
    (an unconstrained coordinate is named after its parameter)."""
    return flat_names(v[0]) + flat_names(v[1])


def _optimizer_check(est, converged, grad_norm, steps_taken, num_steps, failed_step) -> Check:
    if failed_step is not None:
        return Check(
            "optimizer",
            False,
            grad_norm,
            f"the loss or parameters became non-finite at step {failed_step}; the estimate is "
            "the last finite point",
        )
    if converged:
        return Check(
            "optimizer",
            True,
            grad_norm,
            f"converged: gradient norm {grad_norm:.2g} after {steps_taken} steps",
        )
    return Check(
        "optimizer",
        False,
        grad_norm,
        f"the optimiser did not converge: gradient norm {grad_norm:.2g} > "
        f"{est.gradient_tolerance:.2g} after {steps_taken} of {num_steps} steps; raise num_steps",
    )


def _fit_checks(
    model,
    est,
    *,
    grad_norm,
    loss_trace,
    failed_step,
    num_steps,
    batch_size,
    stderr,
    uncertainty,
    bootstrap,
    params,
    values,
    maximum,
    names,
    n,
) -> tuple[bool, dict]:
    """``(converged, {name: Check})`` of one finished fit, single or replicate: the optimiser
    (``loss_trace`` holds the steps taken), the standard errors from ``uncertainty`` (in
    words; ``bootstrap``: refits' spread; none when ``stderr`` is None), that the estimate is
    a maximum (from :func:`_maximum_values`, where ``maximum`` is not empty; ``names`` label
    its coordinates) and the estimator's own checks from its ``values``."""
    grad_norm = float(grad_norm)
    converged = failed_step is None and _converged(model, est, grad_norm, loss_trace, n, batch_size)
    steps = len(loss_trace)
    checks = [_optimizer_check(est, converged, grad_norm, steps, num_steps, failed_step)]
    if stderr is not None:
        checks.append(stderr_check(stderr, uncertainty, n, params, bootstrap=bootstrap))
    if maximum:
        checks.append(_maximum_check({k: float(x) for k, x in maximum.items()}, names))
    checks += est.checks({k: float(x) for k, x in values.items()}, n)
    return converged, checks_by_name(checks)


def _setup(model, method, key, optimizer, num_steps):
    """The estimator (checked against the model), key, optimiser and step count of a fit."""
    est = resolve(method)
    est.check(model)
    key = jax.random.key(0) if key is None else key
    num_steps = next(n for n in (num_steps, est.num_steps, est.default_num_steps) if n is not None)
    if isinstance(num_steps, bool) or int(num_steps) != num_steps or num_steps < 1:
        raise MethodError(f"num_steps must be a positive integer; got {num_steps!r}")
    num_steps = int(num_steps)
    if optimizer is None:
        optimizer = est.optimizer
        if callable(optimizer):  # a schedule that follows the number of steps
            optimizer = optimizer(num_steps)
    return est, key, optimizer or est.default_optimizer(num_steps), num_steps


def fit(
    model,
    data,
    method,
    *,
    key=None,
    optimizer=None,
    num_steps=None,
    batch_size=None,
    init=None,
    progress=None,
    uncertainty=None,
    num_bootstrap=100,
) -> FitResult:
    """Fit ``model`` to ``data`` with a frequentist estimator.

    Args:
      model: a :class:`bayesgen.Model`.
      data: a batch of shape ``(n, *event_shape)``; validated against the model's support.
      method: a string alias (``"exact_mle"``, ``"pseudo_likelihood"``, ...; see
        ``ESTIMATORS``) or a configured estimator object.
      key: PRNG key (mini-batches, samplers, noise); ``jax.random.key(0)`` if None.
      optimizer: an optax transformation; default: the estimator's ``optimizer`` option
        (called with the number of steps if it is a function), else its default (L-BFGS
        for smooth deterministic objectives, Adam for contrastive divergence).
      num_steps: optimiser steps; default: the estimator's ``num_steps`` option, else its
        default.
      batch_size: mini-batch size; full batch if None.
      init: starting params; zeros in unconstrained space if None.
      progress: show progress on stderr; default: when stderr is a terminal.
      uncertainty: ``"sandwich"`` (M-estimators only), ``"bootstrap"``, or ``"none"``
        (NaN standard errors, for when only the estimate is wanted: no bootstrap refits);
        default: the sandwich where it applies, else the bootstrap.
      num_bootstrap: refits of the parametric bootstrap (vmapped; same steps, optimiser and
        mini-batches as this fit).

    Returns:
      A :class:`FitResult`.
    """
    est, key, opt, num_steps = _setup(model, method, key, optimizer, num_steps)
    data = model.validate(data)
    uncertainty = uncertainty or est.default_uncertainty(data.shape[0], model.num_params)
    if uncertainty not in UNCERTAINTY:
        raise MethodError(f"unknown uncertainty {uncertainty!r}; choose one of {UNCERTAINTY}")
    if uncertainty in ("sandwich", "observed_information") and not est.is_m_estimator:
        raise MethodError(
            f"{est.name} minimises no objective, so it has no {uncertainty.replace('_', ' ')}; "
            "use uncertainty='bootstrap'"
        )
    if uncertainty == "observed_information" and not est.is_likelihood:
        raise MethodError(
            f"{est.name} does not maximise a likelihood, so its observed information does not "
            "give its covariance; use uncertainty='sandwich' (many data) or 'bootstrap'"
        )
    if uncertainty == "bootstrap" and (int(num_bootstrap) != num_bootstrap or num_bootstrap < 2):
        raise MethodError(f"num_bootstrap must be an integer >= 2; got {num_bootstrap!r}")
    if batch_size is not None and not 1 <= batch_size <= data.shape[0]:
        raise MethodError(f"batch_size must be in 1..{data.shape[0]}; got {batch_size}")
    key_fit, key_init, key_boot = jax.random.split(key, 3)
    v0 = _initial_point(model, est, init, data)
    state0 = est.init_state(model, _merge(model, v0), data, key_init)
    show = show_progress(progress)
    n_chunks = min(10, num_steps) if show else 1
    chunk = math.ceil(num_steps / n_chunks)

    loop = (compiled_jit(model, _initial_carry, opt)(v0, state0), jnp.zeros((), bool))
    statics = (model, est, opt, chunk, batch_size, est.stops_early and batch_size is None)
    compiled, compile_s = compile_timed(
        compiled_jit(model, _run_steps, *statics), *loop, data, key_fit
    )
    traces = []
    t0 = time.perf_counter()
    with progress_bar(chunk * n_chunks, est.name, show, unit="step") as bar:
        for i in range(n_chunks):
            loop, trace = compiled(*loop, data, key_fit)
            traces.append(trace)
            if show:
                taken = int(loop[0][3])
                bar.update(taken - bar.n)
                bar.set_postfix(loss=f"{float(trace[taken - 1 - i * chunk]):.6g}")
                if bool(loop[1]):  # stopped early: the bar ends where the fit did
                    bar.total = taken
                    bar.refresh()
                    break
    v, _, _, steps_taken, failed, state = jax.block_until_ready(loop[0])
    run_s = time.perf_counter() - t0
    params, nuisance = constrain(model, v[0]), v[1]
    loss_trace = np.concatenate([np.asarray(t) for t in traces])[: int(steps_taken)]
    finish = compiled_jit(model, _finish, model, est, uncertainty, compiler_options=RUN_ONCE)
    grad_norm, cov, values, maximum = finish(v, data, key_fit, state)
    failed_step = int(failed) if int(failed) >= 0 else None

    if cov is not None:
        cov_full, described = np.asarray(cov), uncertainty.replace("_", " ")
    elif uncertainty == "none":
        k = ravel_pytree((params, nuisance))[0].size
        cov_full, described = np.full((k, k), np.nan), "none"
    else:
        t0 = time.perf_counter()
        keys = jax.random.split(key_boot, int(num_bootstrap))
        if not model.has_sampler:
            raise MethodError(
                f"the parametric bootstrap simulates data from the fit, and {model!r} has no "
                "sampler; give the model one (bg.model(..., sample=...), or a data-space "
                "kernel), or use uncertainty='sandwich' (many data) or 'none'"
            )
        datasets = model.sample_datasets(keys, params, data.shape[0])
        refits = compiled_jit(model, _refits, model, est, opt, num_steps, batch_size)
        flat, boot_failed = refits(v0, datasets, keys)
        cov_full, used = bootstrap_covariance(np.asarray(flat), np.asarray(boot_failed))
        described = (
            f"parametric bootstrap ({used} of {int(num_bootstrap)} refits; data by "
            f"{model.sampler.removeprefix('exact: ').removeprefix('approximate: ')})"
        )
        timing_boot = time.perf_counter() - t0

    _, unravel = ravel_pytree((params, nuisance))
    se_params, se_nuisance = unravel(jnp.sqrt(jnp.clip(jnp.diag(jnp.asarray(cov_full)), 0.0)))
    d = ravel_pytree(params)[0].size
    timing = {"compile_s": compile_s, "run_s": run_s}
    if uncertainty == "bootstrap":
        timing["bootstrap_s"] = timing_boot
    converged, checks = _fit_checks(
        model,
        est,
        grad_norm=grad_norm,
        loss_trace=loss_trace,
        failed_step=failed_step,
        num_steps=num_steps,
        batch_size=batch_size,
        stderr=None if uncertainty == "none" else se_params,
        uncertainty=described,
        bootstrap=uncertainty == "bootstrap",
        params=params,
        values=values,
        maximum=maximum,
        names=_flat_coordinate_names(v),
        n=data.shape[0],
    )
    return FitResult(
        params={k: np.asarray(x) for k, x in params.items()},
        stderr={k: np.asarray(x) for k, x in se_params.items()},
        cov=cov_full[:d, :d],
        cov_names=flat_names(params),
        loss_trace=loss_trace,
        converged=converged,
        failed_step=failed_step,
        grad_norm=grad_norm,
        method=est.name,
        normalizer=est.describe_normalizer(model),
        timing=timing,
        device=device_description(jax.local_devices()[:1]),  # one fit: the default device
        uncertainty=described,
        nuisance={k: np.asarray(x) for k, x in nuisance.items()},
        nuisance_stderr={k: np.asarray(x) for k, x in se_nuisance.items()},
        diagnostics=checks,
    )


class Replicates(NamedTuple):
    """Results of :func:`fit_replicates`, each with a leading replicate axis."""

    params: dict
    nuisance: dict
    stderr: dict  # the default uncertainty: the sandwich, the observed information of a
    # likelihood from few data, or the parametric bootstrap when ``num_bootstrap`` > 0
    # (else NaN where the default is the bootstrap)
    grad_norm: np.ndarray
    failed_step: np.ndarray  # -1 where the fit stayed finite
    diagnostics: list  # per replicate, {name: Check}: the checks of bg.fit's result
    ok: np.ndarray  # (replicates,) bool: every check of the replicate passed
    why: list  # per replicate, the failed checks in words ("" where ok)
    device: str = ""  # the devices the replicates were spread over, e.g. "4 x cpu"


def fit_replicates(
    model,
    datasets,
    method,
    *,
    key=None,
    optimizer=None,
    num_steps=None,
    batch_size=None,
    num_bootstrap: int = 0,
    devices=None,
) -> Replicates:
    """Fit every dataset in ``datasets`` (shape ``(R, n, *event_shape)``) as one vmapped,
    jitted computation, each replicate with its own key (``jax.random.split(key, R)[r]``, or
    ``key[r]`` when ``key`` is one key per replicate). Deterministic estimators without
    state stop each replicate at the gradient tolerance (or ``num_steps``); the others run
    ``num_steps`` steps.

    Standard errors are each estimator's default for the data size
    (:meth:`~bayesgen.frequentist.base.Estimator.default_uncertainty`). Where that is the
    parametric bootstrap (one lattice, or a non-likelihood estimator below 30 data), they
    are NaN unless ``num_bootstrap`` >= 2: then every replicate is refitted on that many
    datasets simulated at its own estimate, all replicates' refits in the same vmapped
    computation (R x num_bootstrap fits and simulated datasets).

    Every replicate gets the verdict :func:`fit` would give it (``diagnostics``, ``ok``,
    ``why``): the optimiser, standard errors finite and non-zero (not checked where they
    are NaN by choice, the bootstrap without ``num_bootstrap``), and the estimator's own
    checks (Monte Carlo MLE's importance weights, NCE's classifier).

    The replicates are spread evenly over ``devices`` (every local device by default; a
    count or a list of devices restricts them; see :class:`bayesgen._engine.Spread`): each
    device fits its share, and the fits do not depend on how many devices there are beyond
    floating-point rounding. ``device`` in the result names the devices used."""
    est, key, opt, num_steps = _setup(model, method, key, optimizer, num_steps)
    if num_bootstrap and (int(num_bootstrap) != num_bootstrap or num_bootstrap < 2):
        raise MethodError(f"num_bootstrap must be 0 or an integer >= 2; got {num_bootstrap!r}")
    datasets = model.validate_datasets(datasets)
    replicates, n = datasets.shape[:2]
    keys = replicate_keys(key, replicates)
    how = est.default_uncertainty(n, model.num_params)
    boot = int(num_bootstrap) if how == "bootstrap" else 0
    if batch_size is not None and not 1 <= batch_size <= n:
        raise MethodError(f"batch_size must be in 1..{n}; got {batch_size}")

    def tile(a):
        return jnp.broadcast_to(a, (replicates, *jnp.shape(a)))

    u0, nuisance0 = _initial_point(model, est, None, datasets[0], start=False)
    start = est.start_method(model)
    if start is None:  # every replicate from the same point
        v0 = jax.tree.map(tile, (u0, nuisance0))
    else:  # each from its own Z-free fit, as bg.fit starts (MCMLE from the MPLE)
        starts = fit_replicates(model, datasets, start, key=keys, devices=devices).params
        v0 = (jax.vmap(lambda p: unconstrain(model, p))(starts), jax.tree.map(tile, nuisance0))
    spread = Spread.over(devices, replicates)
    axes = (0, 0, 0)
    try:
        statics = (model, est, opt, num_steps, batch_size, boot)
        fit_many = compiled_jit(model, spread_call, _fit_many, statics, *spread.statics(axes, 0))
        out = spread.take(fit_many(*spread.put((v0, datasets, keys), axes)), 0)
    except NotImplementedError:
        if not boot:
            raise
        raise MethodError(
            f"the parametric bootstrap simulates data from each fit, and {model!r} has no "
            "sampler; use num_bootstrap=0"
        ) from None
    params, nuisance, stderr, grad_norm, failed, trace, steps, values, maximum = jax.tree.map(
        np.asarray, out
    )
    names = _flat_coordinate_names(jax.tree.map(lambda a: a[0], v0))
    if how == "bootstrap":
        described = f"parametric bootstrap ({boot} refits per replicate)"
    else:
        described = how.replace("_", " ")
    diagnostics = []
    for r in range(replicates):
        at = lambda tree, r=r: {k: x[r] for k, x in tree.items()}  # noqa: E731
        _, checks = _fit_checks(
            model,
            est,
            grad_norm=grad_norm[r],
            loss_trace=trace[r, : steps[r]],
            failed_step=None if failed[r] < 0 else int(failed[r]),
            num_steps=num_steps,
            batch_size=batch_size,
            stderr=None if how == "bootstrap" and not boot else at(stderr),
            uncertainty=described,
            bootstrap=how == "bootstrap",
            params=at(params),
            values=at(values),
            maximum=at(maximum),
            names=names,
            n=n,
        )
        diagnostics.append(checks)
    ok, why = verdicts(diagnostics)
    return Replicates(
        params=params,
        nuisance=nuisance,
        stderr=stderr,
        grad_norm=grad_norm,
        failed_step=failed,
        diagnostics=diagnostics,
        ok=ok,
        why=why,
        device=spread.description,
    )


def _point_fit(model, est, opt, num_steps, batch_size, v0, data, key):
    """One fit from ``v0``, stopped as :func:`fit` stops it: ``(v, failed_step, state,
    key_fit, loss trace (NaN past the steps taken), steps taken)``."""
    key_fit, key_init = jax.random.split(key)
    state0 = est.init_state(model, _merge(model, v0), data, key_init)
    start = (_initial_carry(opt, v0, state0), jnp.zeros((), bool))
    stop_early = est.stops_early and batch_size is None
    (carry, _), trace = _run_steps(
        model, est, opt, num_steps, batch_size, stop_early, *start, data, key_fit
    )
    v, _, _, steps, failed, state = carry
    return v, failed, state, key_fit, trace, steps


def _fit_one(model, est, opt, num_steps, batch_size, num_bootstrap, v0, data, key):
    """One replicate from its own start ``v0``; its bootstrap refits start there too."""
    v, failed, state, key_fit, trace, steps = _point_fit(
        model, est, opt, num_steps, batch_size, v0, data, key
    )
    params, nuisance = constrain(model, v[0]), v[1]
    flat, unravel = ravel_pytree((params, nuisance))
    how = est.default_uncertainty(data.shape[0], model.num_params)
    grad_norm, cov, values, maximum = _finish(model, est, how, v, data, key_fit, state)
    if cov is not None:
        se = jnp.sqrt(jnp.clip(jnp.diag(cov), 0.0))
    elif num_bootstrap:  # refits on data simulated at this replicate's estimate
        keys = jax.random.split(jax.random.fold_in(key, 1), 2 * num_bootstrap)
        boot_data = jax.vmap(lambda k: model.sample(k, params, data.shape[0]))(keys[::2])

        refits, bad = _refits(model, est, opt, num_steps, batch_size, v0, boot_data, keys[1::2])
        ok = (bad < 0)[:, None]
        used = jnp.sum(ok)
        mean = jnp.sum(jnp.where(ok, refits, 0.0), 0) / jnp.maximum(used, 1)
        var = jnp.sum(jnp.where(ok, (refits - mean) ** 2, 0.0), 0) / (used - 1.0)
        se = jnp.where(used >= 2, jnp.sqrt(var), jnp.nan)
    else:
        se = jnp.full(flat.shape, jnp.nan, data.dtype)
    return params, nuisance, unravel(se)[0], grad_norm, failed, trace, steps, values, maximum


def _refits(model, est, opt, num_steps, batch_size, v0, datasets, keys):
    """The parametric bootstrap's refits, all from ``v0``, one per dataset and key (a vmap
    of :func:`_point_fit`: estimates only, no post-fit checks): ``(flattened (params,
    nuisance) per refit, failed step per refit)``."""

    def refit(d, k):
        w, bad = _point_fit(model, est, opt, num_steps, batch_size, v0, d, k)[:2]
        return ravel_pytree((constrain(model, w[0]), w[1]))[0], bad

    return jax.vmap(refit)(datasets, keys)


def _fit_many(model, est, opt, num_steps, batch_size, num_bootstrap, v0, datasets, keys):
    return jax.vmap(_fit_one, (None, None, None, None, None, None, 0, 0, 0))(
        model, est, opt, num_steps, batch_size, num_bootstrap, v0, datasets, keys
    )
