"""Monte Carlo maximum likelihood (Geyer & Thompson 1992), iterating the reference point.

With draws y_1..y_m from p_ψ at a reference ψ, the log-likelihood ratio is estimated by
importance sampling (:func:`bayesgen.normalizers.log_normalizer_ratio`),

    ℓ(θ) - ℓ(ψ) ≈ (1/n) Σ_i [log f_θ(x_i) - log f_ψ(x_i)] - log (1/m) Σ_j f_θ(y_j)/f_ψ(y_j),

a smooth deterministic function of θ that L-BFGS maximises. The estimate is only good
near ψ (far from it a handful of draws carry all the weight, and where the data's
statistics leave the hull of the draws' it has no maximum at all), so:

* a trust region keeps each round where the importance weights are healthy: the loss
  gains ``barrier · max(0, log(min_ess · m / ESS(θ)))²``, zero while the effective sample
  size is at least ``min_ess · m`` (hence zero, with a zero gradient, at the reference
  itself);
* every ``refresh_every`` steps the reference moves to the current θ, the ``m`` chains (the
  estimator's state, started at the data) take their sweeps of ``model.mcmc_sweep`` at the
  new reference, and the optimiser restarts on the new objective;
* Hummel, Hunter & Handcock's (2012) stepping, as the R package ergm does it: where the
  data's mean score (in an exponential family, its sufficient statistics) lies outside the
  convex hull of the reference chains' scores, the Monte Carlo likelihood has no maximum
  (it increases without bound along a direction that separates the data from every draw),
  so each round fits a pseudo-observation instead: the mixture γ · data + (1 - γ) ·
  reference sample (in an exponential family, the statistics ξ = γ T̄_data + (1 - γ)
  T̄_chains), with γ the largest in (0, 1] for which the point 1.05 γ of the way from the
  chains' mean to the data's is still inside the hull (:func:`hull_exit`). γ = 1 once
  the chains surround the data, and from then on the rounds fit the data themselves.
  The trust region still bounds each round (the mixture's maximum can be far from the
  reference where the weights are poor);
* the fit starts at a Z-free estimate (maximum pseudo-likelihood for binary data, as ergm
  starts from the MPLE; score matching or the discrete Fisher divergence elsewhere), so the
  first reference is already near the MLE;
* the sweeps per refresh follow the kernel's own autocorrelation at the start, measured
  before the fit (:func:`bayesgen.samplers.mixing.sweeps_to_decorrelate`): the fewest of
  20, 40, 80, ... after which the scores ∇_θ log f(y) keep a correlation of at most
  ``max_lag_correlation``. Near the critical coupling of a 32 x 32 lattice checkerboard
  Gibbs needs about 60 sweeps per independent bond sum, so a fixed 20 leaves one lattice's
  chains (n = 1: every chain starts at the same datum) too close to their start. The
  chains' remaining memory of the data, the correlation the pilot measured across as many
  sweeps as the fit ran (up to 16 refreshes' worth), is checked by :meth:`MCMLE.checks`.

At convergence the estimate is the reference, the weights are equal and the barrier is
inactive: the fixed point solves E_data[∇ log f] = mean_j ∇ log f(y_j), the Monte Carlo
likelihood equation. Given the reference sample it is an M-estimator; its standard errors
add to the sandwich the Monte Carlo error of the importance-sampled gradient (chains taken
as independent), which shrinks as 1/m.

References: C. J. Geyer, E. A. Thompson (1992), Constrained Monte Carlo maximum likelihood
for dependent data, JRSS B 54. The trust region follows the spirit of their section 3 (the
estimate is trusted only near ψ). R. Hummel, D. R. Hunter, M. S. Handcock (2012),
Improving simulation-based algorithms for fitting ERGMs, J. Comput. Graph. Stat. 21.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from bayesgen.diagnostics import Check
from bayesgen.frequentist.base import Estimator, z_free_start_method
from bayesgen.frequentist.contrastive_divergence import require_markov_kernel, sweeps
from bayesgen.normalizers import effective_sample_size, log_normalizer_ratio
from bayesgen.samplers.mixing import correlation_se, sweeps_to_decorrelate

# The reference chains' remaining memory of the data they started from (the scores'
# correlation across the sweeps the fit ran), above which the reference sample is not a
# sample from the model (5%: the start's pull on the simulated mean statistic is then a
# twentieth of its distance from the data's). The check allows twice the measurement's
# standard error above it, that of a pilot which met its target lag correlation at most:
# it flags memory shown to exceed 5% (at the default target, 0.5, up to 0.11 passes on
# noise alone).
MAX_CHAIN_MEMORY = 0.05
# Hummel et al.'s margin: the pseudo-observation is placed so that the point 1.05 times as
# far from the chains' mean is still inside the hull of their scores.
STEPPING_MARGIN = 1.05


def hull_exit(points: jax.Array, direction: jax.Array, num_stages: int = 12) -> jax.Array:
    """sup {t : c + t · direction ∈ conv(points)} for c the points' mean (inside the hull).

    By linear-programming duality it is min over a with a · direction = 1 of
    max_j a · (points_j - c): a convex, piecewise-linear problem in the d - 1 free
    coordinates of a, solved (in coordinates whitened by the points' covariance, where it
    is affine-invariant) on the log-sum-exp smoothing of the max, τ logsumexp(·/τ), its
    temperature τ lowered from 1 to 0.002 over ``num_stages`` stages of 5 damped Newton
    steps each (the best of the step lengths 1, 1/2, ..., 1/128 and 0: a fixed cost and
    no loop that waits on convergence, so that it runs the same inside a vmapped study).
    The exact max at the solution is returned: every a bounds t* above, so it is an upper
    bound, tight to the solver's accuracy. 0 where ``direction`` is 0."""
    d = points.shape[1]
    c = points.mean(0)
    cov = jnp.cov(points, rowvar=False).reshape(d, d)
    floor = 1e-9 * jnp.trace(cov) / d + jnp.finfo(cov.dtype).eps  # identical points too
    chol = jnp.linalg.cholesky(cov + floor * jnp.eye(d, dtype=cov.dtype))
    g = jax.scipy.linalg.solve_triangular(chol, (points - c).T, lower=True).T
    u = jax.scipy.linalg.solve_triangular(chol, direction, lower=True)
    norm2 = jnp.maximum(u @ u, jnp.finfo(u.dtype).tiny)
    if d == 1:  # a = 1 / u: nothing to optimise
        return jnp.where(u @ u > 0, jnp.max(g[:, 0] / jnp.where(u[0] == 0, 1.0, u[0])), 0.0)
    alphas = jnp.concatenate([2.0 ** -jnp.arange(8.0), jnp.zeros(1)]).astype(u.dtype)
    # an orthonormal basis of the directions orthogonal to u: a = u / |u|² + basis · v
    basis = jnp.linalg.qr(jnp.concatenate([u[:, None], jnp.eye(d, dtype=u.dtype)], 1))[0]
    basis = basis[:, 1:d]

    def a_of(v):  # a · u = 1 for every v
        return u / norm2 + basis @ v

    def newton(v, tau):
        def f(v):
            return tau * jax.nn.logsumexp(g @ a_of(v) / tau)

        grad, hess = jax.grad(f)(v), jax.hessian(f)(v)
        ridge = 1e-9 * jnp.trace(hess) / d + jnp.finfo(u.dtype).eps
        step = -jnp.linalg.solve(hess + ridge * jnp.eye(d - 1, dtype=u.dtype), grad)
        step = jnp.where(jnp.isfinite(step), step, 0.0)
        candidates = v + alphas[:, None] * step
        values = jax.vmap(f)(candidates)
        return candidates[jnp.argmin(jnp.where(jnp.isfinite(values), values, jnp.inf))]

    def stage(v, tau):
        return jax.lax.fori_loop(0, 5, lambda _, v: newton(v, tau), v), None

    taus = jnp.geomspace(1.0, 0.002, num_stages).astype(u.dtype)
    v, _ = jax.lax.scan(stage, jnp.zeros(d - 1, u.dtype), taus)
    exit_t = jnp.max(g @ a_of(v))  # any a with a · u = 1 bounds t* above; this is the least
    return jnp.where(u @ u > 0, exit_t, 0.0)


@dataclass(frozen=True)
class MCMLE(Estimator):
    """Monte Carlo MLE.

    Args:
      num_samples: reference chains m.
      num_sweeps: the fewest sweeps per refresh (doubled until the chains' scores keep a
        correlation of at most ``max_lag_correlation`` across them).
      max_sweeps: the most sweeps per refresh.
      max_lag_correlation: the largest correlation of the scores across one refresh.
      refresh_every: optimiser steps per reference point.
      min_ess: the trust region: fraction of m the effective sample size may not fall below.
      barrier: strength of the trust-region penalty.
      step_size: Langevin step size for real-valued data.
      stepping: Hummel et al.'s stepping toward the data (see the module docstring).
    """

    num_samples: int = 1000
    num_sweeps: int = 20
    max_sweeps: int = 1280
    max_lag_correlation: float = 0.5
    refresh_every: int = 10
    min_ess: float = 0.5
    barrier: float = 100.0
    step_size: float = 0.1
    stepping: bool = True
    name = "mcmle"
    is_likelihood = True
    stops_early = False
    default_num_steps = 100

    def describe_normalizer(self, model) -> str:
        return (
            f"estimated: importance-sampled log Z ratios from {self.num_samples} "
            f"{model.mcmc_kernel} chains at an iterated reference point"
        )

    def check(self, model) -> None:
        require_markov_kernel(self, model)

    def start_method(self, model):
        return z_free_start_method(model)

    def init_state(self, model, params, data, key):
        """``(chains, log f at the reference, sweeps per refresh, the pilot's correlation
        profile at 1..16 rounds of them, refreshes so far, the stepping's γ)``; the chains
        start at the data and take their first sweeps at the first step."""
        chains = data[jnp.arange(self.num_samples) % data.shape[0]]
        num_sweeps, profile = sweeps_to_decorrelate(
            model,
            jax.lax.stop_gradient(params),
            data,
            key,
            start=self.num_sweeps,
            max_sweeps=self.max_sweeps,
            target=self.max_lag_correlation,
            step_size=self.step_size,
        )
        log_f = model.log_f_batch(params, chains)
        gamma = jnp.ones((), log_f.dtype)
        return chains, log_f, num_sweeps, profile, jnp.zeros((), jnp.int32), gamma

    def update_state(self, model, params, state, data, key, step):
        restart = step % self.refresh_every == 0

        def refresh(state):
            chains, _, num_sweeps, profile, refreshes, _ = state
            new = sweeps(model, params, chains, key, num_sweeps, self.step_size)
            log_f = model.log_f_batch(params, new)
            gamma = self._gamma(model, params, new, data) if self.stepping else state[5]
            return new, log_f, num_sweeps, profile, refreshes + 1, gamma.astype(log_f.dtype)

        return jax.lax.cond(restart, refresh, lambda s: s, state), restart

    def _gamma(self, model, params, chains, data):
        """Hummel et al.'s γ at the reference ``params``: the largest in (0, 1] that keeps
        the chains' mean score + 1.05 γ (data's mean score - chains' mean) in the hull of
        the chains' scores."""
        flat, unravel = ravel_pytree(jax.lax.stop_gradient(params))
        score = jax.vmap(jax.grad(lambda v, y: model.log_f(unravel(v), y)), (None, 0))
        chain_scores = score(flat, chains)
        direction = score(flat, data).mean(0) - chain_scores.mean(0)
        exit_t = hull_exit(chain_scores, direction)
        return jnp.clip(exit_t / STEPPING_MARGIN, 0.0, 1.0)

    def _log_weights(self, model, params, state):
        chains, log_f_reference = state[:2]
        return model.log_f_batch(params, chains) - log_f_reference

    def _objective(self, model, params, batch, state):
        """The round's loss on ``batch``: the importance-sampled log Z ratio with the
        trust region's barrier, less the pseudo-observation's mean log f, γ · mean log f
        (data) + (1 - γ) · mean log f (reference chains) (the data's alone once γ = 1).
        The chains' log f is computed once for both."""
        chains, log_f_reference, gamma = state[0], state[1], state[5]
        log_f_chains = model.log_f_batch(params, chains)
        log_w = log_f_chains - log_f_reference
        shortfall = jnp.log(self.min_ess * log_w.shape[0] / effective_sample_size(log_w))
        barrier = self.barrier * jnp.maximum(shortfall, 0.0) ** 2
        data_term = gamma * model.log_f_batch(params, batch).mean()
        data_term = data_term + (1.0 - gamma) * log_f_chains.mean()
        return log_normalizer_ratio(log_w) + barrier - data_term

    def loss(self, model, params, batch, key, state=()):
        return self._objective(model, params, batch, state)

    def per_datum_loss(self, model, params, x, key, state):
        return self._objective(model, params, x[None], state)

    def diagnostic_values(self, model, params, data, key, state) -> dict:
        """The importance weights' ESS (a fraction of m) from the last reference to
        ``params``, and the reference chains' sweeps, lag correlation and refreshes."""
        log_w = self._log_weights(model, params, state)
        _, _, num_sweeps, profile, refreshes, gamma = state
        # The pilot's correlation at min(r, K) rounds of sweeps, measured (K rounds: the
        # longest lag it records; beyond, the chains ran longer than measured, so the
        # figure bounds their memory if it decays). No refresh: the chains are the data.
        lag = jnp.clip(refreshes, 1, profile.shape[0])
        memory = jnp.where(refreshes > 0, jnp.maximum(profile[lag - 1], 0.0), 1.0)
        return {
            "ess": effective_sample_size(log_w) / log_w.shape[0],
            "num_sweeps": num_sweeps,
            "rho": profile[0],
            "refreshes": refreshes,
            "memory": memory,
            "memory_lag": lag,
            "memory_se": correlation_se(jnp.minimum(profile[0], self.max_lag_correlation)),
            "gamma": gamma,
        }

    def checks(self, values: dict, n: int) -> list:
        """Two checks of the Monte Carlo likelihood at the estimate.

        * ``importance_ess``: Kish's ESS of the weights from the last reference to the
          estimate, at least ``min_ess · m``; below it the trust region binds, the
          estimate is held near the reference rather than at the Monte Carlo MLE, and the
          barrier's curvature makes the interval too narrow.
        * ``reference_chains``: the chains' memory of where they started (the data): the
          scores' correlation across r · s sweeps, for the fit's r refreshes of s sweeps,
          measured by the pilot chains at that lag (up to 16 rounds of s sweeps; longer
          fits are judged at 16, which bounds a decaying memory), at most
          :data:`MAX_CHAIN_MEMORY` within twice the measurement's standard error (Bartlett's,
          at a lag-one correlation of at most ``max_lag_correlation``: 0.029 at its default
          0.5, so memory up to 0.11 passes when the noise allows it). Above it the
          reference sample is the data slightly blurred, not draws from the model, and its
          Monte Carlo error (computed for independent draws) is far too small. It is
          measured, not extrapolated as ρ(s)^r: the decay is slower than exponential
          (checkerboard Gibbs on 32 x 32 at β = 0.412: ρ(20) = 0.20, so 0.20^4 = 0.002 at
          80 sweeps, where 0.049 was measured).
        """
        ess = values["ess"]
        checks = [
            Check(
                "importance_ess",
                ess >= self.min_ess,
                ess,
                f"importance weights from the last reference: ESS {ess:.2f} m"
                if ess >= self.min_ess
                else f"the trust region binds at the estimate (importance ESS {ess:.2f} m < "
                f"{self.min_ess} m): the estimate is held near the last reference, not at the "
                "Monte Carlo MLE, and its interval is too narrow; raise num_steps",
            )
        ]
        rho, num_sweeps = values["rho"], int(values["num_sweeps"])
        refreshes, lag = int(values["refreshes"]), int(values["memory_lag"])
        memory, se = float(values["memory"]), float(values["memory_se"])
        passed = memory <= MAX_CHAIN_MEMORY + 2.0 * se
        measured = (
            f"correlation {memory:.3f} ± {se:.3f} measured at {lag * num_sweeps} sweeps; "
            f"{refreshes} refreshes of {num_sweeps} sweeps, lag-one correlation {rho:.2f}"
            if refreshes
            else "never refreshed: the chains are the data"
        )
        checks.append(
            Check(
                "reference_chains",
                passed,
                memory,
                f"reference chains forgot their start ({measured})"
                if passed
                else f"the reference chains have not forgotten their start (the data): "
                f"{measured}, above {MAX_CHAIN_MEMORY} by more than twice its error; the "
                "Monte Carlo likelihood and its error are not the model's; raise num_steps "
                "or max_sweeps",
            )
        )
        if self.stepping:
            gamma = float(values["gamma"])
            checks.append(
                Check(
                    "stepping",
                    gamma >= 1.0,
                    gamma,
                    "the last round fitted the data (stepping's γ = 1)"
                    if gamma >= 1.0
                    else f"the stepping had not reached the data (γ = {gamma:.2f} at the last "
                    "refresh): the data's statistics lie outside the hull of the reference "
                    "chains', and the estimate is the MLE of a pseudo-observation between "
                    "them; raise num_steps",
                )
            )
        return checks

    def gradient_noise_covariance(self, model, params_of, flat_v, state):
        """Σ_j w̃_j² (g_j - ḡ)(g_j - ḡ)ᵀ: the delta-method variance of the self-normalised
        importance estimate ḡ = Σ_j w̃_j g_j of ∇ log Z, g_j = ∇ log f(y_j), for independent
        chains."""
        chains = state[0]
        w = jax.nn.softmax(self._log_weights(model, params_of(flat_v), state))
        g = jax.vmap(jax.grad(lambda t, y: model.log_f(params_of(t), y)), (None, 0))(flat_v, chains)
        centred = (g - w @ g) * w[:, None]
        return centred.T @ centred
