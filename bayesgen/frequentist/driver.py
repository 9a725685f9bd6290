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
import sys
import time
from dataclasses import dataclass
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from bayesgen.errors import MethodError
from bayesgen.frequentist.base import Estimator, bijections, constrain, unconstrain
from bayesgen.frequentist.exact_mle import ExactMLE
from bayesgen.frequentist.pseudo_likelihood import PseudoLikelihood
from bayesgen.frequentist.ratio_matching import RatioMatching
from bayesgen.frequentist.score_matching import ScoreMatching
from bayesgen.frequentist.sliced_score_matching import SlicedScoreMatching
from bayesgen.frequentist.uncertainty import flat_names, sandwich_covariance

ESTIMATORS: dict[str, type[Estimator]] = {
    "exact_mle": ExactMLE,
    "pseudo_likelihood": PseudoLikelihood,
    "ratio_matching": RatioMatching,
    "score_matching": ScoreMatching,
    "sliced_score_matching": SlicedScoreMatching,
}


def resolve(method) -> Estimator:
    """An estimator object from a string alias or an :class:`Estimator` instance."""
    if isinstance(method, Estimator):
        return method
    if isinstance(method, str) and method in ESTIMATORS:
        return ESTIMATORS[method]()
    raise MethodError(
        f"unknown frequentist method {method!r}; available: {', '.join(sorted(ESTIMATORS))}"
    )


@dataclass
class FitResult:
    """The result of :func:`fit`.

    Attributes:
      params: ``{name: estimate}`` in the parameters' own space.
      stderr: ``{name: standard error}`` (sandwich), same shapes.
      cov: the ``(d, d)`` covariance of the flattened parameters, ordered as ``cov_names``.
      loss_trace: the loss at every step (NaN from a failure on).
      converged: no failure and the final gradient norm below the estimator's tolerance.
      failed_step: the step at which the loss or parameters became non-finite, else None.
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
    side: str = "frequentist"

    def to_arviz(self, num_draws: int = 1000, seed: int = 0):
        """An ArviZ DataTree whose ``posterior`` group holds ``num_draws`` draws (one chain) from
        the estimator's asymptotic sampling distribution N(estimate, cov), so that ArviZ plots
        can overlay it with Bayesian posteriors. Attributes record the method, side, how Z
        was handled, timing, device and convergence."""
        import arviz as az

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
            "draws": "asymptotic sampling distribution N(estimate, sandwich covariance)",
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


def _initial_unconstrained(model, init, dtype):
    """Zeros in unconstrained space (shaped by each bijection), or ``init`` mapped there."""
    if init is None:
        return {
            k: jnp.zeros(t.inverse_shape(s.shape), dtype)
            for (k, t), s in zip(bijections(model).items(), model.params_spec, strict=True)
        }
    return unconstrain(model, model.check_params(init))


def _initial_carry(opt, u0):
    """(u, previous u, optimiser state, step, failed step or -1)."""
    return (u0, u0, opt.init(u0), jnp.zeros((), jnp.int32), -jnp.ones((), jnp.int32))


def _make_step(model, est, opt, batch_size, data, key):
    """One optimiser step on the carry of :func:`_initial_carry`; returns
    ``(carry, loss at u, gradient norm at u)``.

    When the loss at ``u`` (or the update) is non-finite, the fit freezes at the previous
    parameters, the last whose loss was finite, and records the step."""
    n = data.shape[0]

    def step_fn(carry):
        u, prev, state, step, failed = carry
        step_key = jax.random.fold_in(key, step)
        k = step_key if est.fresh_noise_each_step else key
        batch = data
        if batch_size is not None:
            batch = data[jax.random.choice(step_key, n, (batch_size,), replace=False)]

        def objective(v):
            return est.loss(model, constrain(model, v), batch, k)

        value, grad = jax.value_and_grad(objective)(u)
        if isinstance(opt, optax.GradientTransformationExtraArgs):  # L-BFGS's line search
            extra = {"value": value, "grad": grad, "value_fn": objective}
        else:
            extra = {}
        updates, new_state = opt.update(grad, state, u, **extra)
        new_u = optax.apply_updates(u, updates)
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(ravel_pytree(new_u)[0]))
        ok = finite & (failed < 0)
        newly_failed = ~finite & (failed < 0)
        keep = lambda a, b: jnp.where(ok, a, b)  # noqa: E731
        frozen = jax.tree.map(lambda p, c: jnp.where(newly_failed, p, c), prev, u)
        new_prev = jax.tree.map(keep, u, prev)
        u = jax.tree.map(keep, new_u, frozen)
        state = jax.tree.map(keep, new_state, state)
        failed = jnp.where(newly_failed, step, failed)
        grad_norm = jnp.linalg.norm(ravel_pytree(grad)[0])
        return (u, new_prev, state, step + 1, failed), value, grad_norm

    return step_fn


def _run_steps(model, est, opt, length, batch_size, carry, data, key):
    """``length`` optimiser steps as one scan; the loss trace is NaN from a failure on."""
    step_fn = _make_step(model, est, opt, batch_size, data, key)

    def body(carry, _):
        carry, value, _ = step_fn(carry)
        return carry, jnp.where(carry[4] < 0, value, jnp.nan)

    return jax.lax.scan(body, carry, None, length=length)


def _run_to_tolerance(model, est, opt, max_steps, carry, data, key):
    """Full-batch steps until the gradient norm is below the estimator's tolerance, a failure,
    or ``max_steps``: a ``while_loop``, so a vmapped study stops when every replicate has."""
    step_fn = _make_step(model, est, opt, None, data, key)

    def cond(state):
        carry, grad_norm = state
        return (carry[3] < max_steps) & (carry[4] < 0) & (grad_norm > est.gradient_tolerance)

    def body(state):
        carry, _, grad_norm = step_fn(state[0])
        return carry, grad_norm

    carry, _ = jax.lax.while_loop(cond, body, (carry, jnp.asarray(jnp.inf, data.dtype)))
    return carry


_run_steps_jit = jax.jit(_run_steps, static_argnums=(0, 1, 2, 3, 4))


def _full_gradient_norm(model, est, u, data, key):
    g = jax.grad(lambda v: est.loss(model, constrain(model, v), data, key))(u)
    return jnp.linalg.norm(ravel_pytree(g)[0])


_gradient_norm_jit = jax.jit(_full_gradient_norm, static_argnums=(0, 1))
_sandwich_jit = jax.jit(sandwich_covariance, static_argnums=(0, 1))


def _setup(model, method, key, optimizer, num_steps):
    """The estimator (checked against the model), key, optimiser and step count of a fit."""
    est = resolve(method)
    est.check(model)
    key = jax.random.key(0) if key is None else key
    return est, key, optimizer or est.default_optimizer(), int(num_steps or est.default_num_steps)


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
) -> FitResult:
    """Fit ``model`` to ``data`` with a frequentist estimator.

    Args:
      model: a :class:`bayesgen.Model`.
      data: a batch of shape ``(n, *event_shape)``; validated against the model's support.
      method: a string alias (``"exact_mle"``, ``"pseudo_likelihood"``) or an estimator.
      key: PRNG key (mini-batches, stochastic estimators); ``jax.random.key(0)`` if None.
      optimizer: an optax transformation; default per estimator (L-BFGS for smooth
        deterministic objectives).
      num_steps: optimiser steps; default per estimator.
      batch_size: mini-batch size; full batch if None.
      init: starting params; zeros in unconstrained space if None.
      progress: show progress on stderr; default: when stderr is a terminal.

    Returns:
      A :class:`FitResult` with sandwich standard errors.
    """
    est, key, opt, num_steps = _setup(model, method, key, optimizer, num_steps)
    data = model.validate(data)
    if batch_size is not None and not 1 <= batch_size <= data.shape[0]:
        raise MethodError(f"batch_size must be in 1..{data.shape[0]}; got {batch_size}")
    u0 = _initial_unconstrained(model, init, data.dtype)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    n_chunks = min(10, num_steps) if show else 1
    chunk = math.ceil(num_steps / n_chunks)

    carry = _initial_carry(opt, u0)
    statics = (model, est, opt, chunk, batch_size)
    t0 = time.perf_counter()
    compiled = _run_steps_jit.lower(*statics, carry, data, key).compile()
    compile_s = time.perf_counter() - t0
    traces = []
    t0 = time.perf_counter()
    for i in range(n_chunks):
        carry, trace = compiled(carry, data, key)
        traces.append(trace)
        if show:
            jax.block_until_ready(trace)
            print(
                f"\r{est.name}: step {(i + 1) * chunk}/{chunk * n_chunks} "
                f"loss {float(trace[-1]):.6g}",
                end="",
                file=sys.stderr,
                flush=True,
            )
    u, _, _, _, failed = jax.block_until_ready(carry)
    run_s = time.perf_counter() - t0
    if show:
        print(file=sys.stderr)
    params = constrain(model, u)
    grad_norm = float(_gradient_norm_jit(model, est, u, data, key))
    failed_step = int(failed) if int(failed) >= 0 else None
    names = flat_names(params)
    cov = np.asarray(_sandwich_jit(est, model, u, data, key))
    _, unravel = ravel_pytree(params)
    stderr = unravel(jnp.sqrt(jnp.clip(jnp.diag(cov), 0.0)))
    return FitResult(
        params={k: np.asarray(v) for k, v in params.items()},
        stderr={k: np.asarray(v) for k, v in stderr.items()},
        cov=cov,
        cov_names=names,
        loss_trace=np.concatenate([np.asarray(t) for t in traces]),
        converged=failed_step is None and grad_norm <= est.gradient_tolerance,
        failed_step=failed_step,
        grad_norm=grad_norm,
        method=est.name,
        normalizer=est.describe_normalizer(model),
        timing={"compile_s": compile_s, "run_s": run_s},
        device=str(jax.devices()[0]),
    )


def fit_replicates(model, datasets, method, *, key=None, optimizer=None, num_steps=None):
    """Fit every dataset in ``datasets`` (shape ``(R, n, *event_shape)``) as one vmapped,
    jitted computation, full batch, each fit stopping at the estimator's gradient tolerance
    (or ``num_steps``). Returns ``(params, stderr, grad_norm, failed_step)`` with a leading
    replicate axis (params and stderr as dicts)."""
    est, key, opt, num_steps = _setup(model, method, key, optimizer, num_steps)
    datasets = jnp.stack([model.validate(d) for d in datasets])  # host checks, per replicate
    u0 = _initial_unconstrained(model, None, datasets.dtype)
    return _fit_many(model, est, opt, num_steps, u0, datasets, key)


def _fit_one(model, est, opt, num_steps, u0, data, key):
    u, _, _, _, failed = _run_to_tolerance(
        model, est, opt, num_steps, _initial_carry(opt, u0), data, key
    )
    params = constrain(model, u)
    cov = sandwich_covariance(est, model, u, data, key)
    stderr = ravel_pytree(params)[1](jnp.sqrt(jnp.clip(jnp.diag(cov), 0.0)))
    return params, stderr, _full_gradient_norm(model, est, u, data, key), failed


@jax.jit(static_argnums=(0, 1, 2, 3))
def _fit_many(model, est, opt, num_steps, u0, datasets, key):
    return jax.vmap(_fit_one, (None, None, None, None, None, 0, None))(
        model, est, opt, num_steps, u0, datasets, key
    )
