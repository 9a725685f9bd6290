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
  estimator's state, started at the data) take ``num_sweeps`` sweeps of ``model.mcmc_sweep``
  at the new reference, and the optimiser restarts on the new objective.

At convergence the estimate is the reference, the weights are equal and the barrier is
inactive: the fixed point solves E_data[∇ log f] = mean_j ∇ log f(y_j), the Monte Carlo
likelihood equation. Given the reference sample it is an M-estimator; its standard errors
add to the sandwich the Monte Carlo error of the importance-sampled gradient (chains taken
as independent), which shrinks as 1/m.

Reference: C. J. Geyer, E. A. Thompson (1992), Constrained Monte Carlo maximum likelihood for
dependent data, JRSS B 54. The trust region follows the spirit of their section 3 (the
estimate is trusted only near ψ).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from bayesgen.frequentist.base import Estimator
from bayesgen.frequentist.contrastive_divergence import require_markov_kernel, sweeps
from bayesgen.normalizers import effective_sample_size, log_normalizer_ratio


@dataclass(frozen=True)
class MCMLE(Estimator):
    """Monte Carlo MLE.

    Args:
      num_samples: reference chains m.
      num_sweeps: sweeps of each chain at every new reference.
      refresh_every: optimiser steps per reference point.
      min_ess: the trust region: fraction of m the effective sample size may not fall below.
      barrier: strength of the trust-region penalty.
      step_size: Langevin step size for real-valued data.
    """

    num_samples: int = 1000
    num_sweeps: int = 20
    refresh_every: int = 10
    min_ess: float = 0.5
    barrier: float = 100.0
    step_size: float = 0.1
    name = "mcmle"
    stops_early = False
    default_num_steps = 100

    def describe_normalizer(self, model) -> str:
        return (
            f"estimated: importance-sampled log Z ratios from {self.num_samples} "
            f"{model.mcmc_kernel} chains at an iterated reference point"
        )

    def check(self, model) -> None:
        require_markov_kernel(self, model)

    def init_state(self, model, params, data, key):
        chains = data[jnp.arange(self.num_samples) % data.shape[0]]
        return chains, model._log_unnormalized_batch(params, chains)

    def update_state(self, model, params, state, data, key, step):
        restart = step % self.refresh_every == 0

        def refresh(state):
            chains = sweeps(model, params, state[0], key, self.num_sweeps, self.step_size)
            return chains, model._log_unnormalized_batch(params, chains)

        return jax.lax.cond(restart, refresh, lambda s: s, state), restart

    def _log_weights(self, model, params, state):
        chains, log_f_reference = state
        return model._log_unnormalized_batch(params, chains) - log_f_reference

    def _log_ratio_and_barrier(self, model, params, state):
        log_w = self._log_weights(model, params, state)
        shortfall = jnp.log(self.min_ess * log_w.shape[0] / effective_sample_size(log_w))
        barrier = self.barrier * jnp.maximum(shortfall, 0.0) ** 2
        return log_normalizer_ratio(log_w) + barrier

    def loss(self, model, params, batch, key, state=()):
        data_term = model._log_unnormalized_batch(params, batch).mean()
        return self._log_ratio_and_barrier(model, params, state) - data_term

    def per_datum_loss(self, model, params, x, key, state):
        log_f_x = model._log_unnormalized(params, x)
        return self._log_ratio_and_barrier(model, params, state) - log_f_x

    def gradient_noise_covariance(self, model, params_of, flat_v, state):
        """Σ_j w̃_j² (g_j - ḡ)(g_j - ḡ)ᵀ: the delta-method variance of the self-normalised
        importance estimate ḡ = Σ_j w̃_j g_j of ∇ log Z, g_j = ∇ log f(y_j), for independent
        chains."""
        chains = state[0]
        w = jax.nn.softmax(self._log_weights(model, params_of(flat_v), state))
        g = jax.vmap(jax.grad(lambda t, y: model._log_unnormalized(params_of(t), y)), (None, 0))(
            flat_v, chains
        )
        centred = (g - w @ g) * w[:, None]
        return centred.T @ centred
