"""Contrastive divergence, CD-k and persistent CD (Hinton 2002; Tieleman 2008).

The log-likelihood gradient is E_data[∇ log f_θ(x)] - E_θ[∇ log f_θ(y)]; Z(θ) enters only
through the model expectation. CD replaces that expectation by negative samples y from a
few sweeps of a Markov kernel that leaves p_θ invariant (``model.local_mcmc_run``:
checkerboard Gibbs for the Ising model, site-by-site Gibbs for other binary data,
Metropolis-adjusted Langevin for real data):

* CD-k: each datum starts its own chain and is swept ``k`` times at the current θ;
* persistent CD: ``num_chains`` chains are kept across steps (the estimator's state) and
  swept ``k`` times before each step, so they track p_θ as θ moves.

The driver minimises the surrogate loss -mean log f_θ(x) + mean log f_θ(sg(y)) (sg: no
gradient through the sampler), whose gradient is the CD update. It is not the gradient of
any objective, so CD is not an M-estimator: standard errors come from the parametric
bootstrap, and the default optimiser is Adam with a cosine-decayed learning rate. For fully
visible models such as the Ising model the CD fixed point is consistent, because a kernel
that leaves p_θ invariant maps data from p_θ to p_θ (Hyvärinen 2006).

References: G. E. Hinton (2002), Training products of experts by minimizing contrastive
divergence, Neural Computation 14. T. Tieleman (2008), Training restricted Boltzmann
machines using approximations to the likelihood gradient, ICML. A. Hyvärinen (2006),
Consistency of pseudolikelihood estimation of fully visible Boltzmann machines, Neural
Computation 18.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from bayesgen.frequentist.base import Estimator, adam_cosine, unsupported


def require_markov_kernel(estimator, model) -> None:
    """Raise unless ``model.mcmc_sweep`` has a kernel for the model's data."""
    if not model.has_mcmc_kernel:
        raise unsupported(
            estimator, model, f"it has no Markov kernel for {model.support.name}", "nce"
        )


def sweeps(model, params, xs, key, num_sweeps, step_size, *, local=False):
    """:meth:`bayesgen.Model.mcmc_run` (``local``: :meth:`~bayesgen.Model.local_mcmc_run`,
    CD's few sweeps) with no gradient in θ (the negative samples)."""
    params = jax.lax.stop_gradient(params)
    run = model.local_mcmc_run if local else model.mcmc_run
    return jax.lax.stop_gradient(run(key, params, xs, num_sweeps, step_size=step_size))


@dataclass(frozen=True)
class ContrastiveDivergence(Estimator):
    """CD-k (``persistent=False``) or persistent CD with ``num_chains`` chains.

    Args:
      k: kernel sweeps per step.
      persistent: keep chains across steps (PCD) instead of restarting them at the data.
      num_chains: PCD chains (default: as many as data, started at the data).
      step_size: Langevin step size for real-valued data (ignored for discrete data).
      learning_rate: peak learning rate of the default optimiser.
    """

    k: int = 1
    persistent: bool = False
    num_chains: int | None = None
    step_size: float = 0.1
    learning_rate: float = 0.05
    name = "contrastive_divergence"
    is_m_estimator = False
    fresh_noise_each_step = True
    stops_early = False
    default_num_steps = 1000

    def default_optimizer(self, num_steps):
        return adam_cosine(self.learning_rate, num_steps)

    def describe_normalizer(self, model) -> str:
        chains = "persistent chains" if self.persistent else "chains started at the data"
        kernel = model.local_mcmc_kernel
        return f"avoided: model expectation from {self.k} sweep(s) of {kernel}, {chains}"

    def check(self, model) -> None:
        require_markov_kernel(self, model)

    def init_state(self, model, params, data, key):
        if not self.persistent:
            return ()
        m = self.num_chains or data.shape[0]
        return data[jnp.arange(m) % data.shape[0]]

    def update_state(self, model, params, state, data, key, step):
        if self.persistent:
            state = sweeps(model, params, state, key, self.k, self.step_size, local=True)
        return state, jnp.asarray(False)

    def loss(self, model, params, batch, key, state=()):
        if not self.persistent:  # each datum's own chain: the mean of the per-datum losses
            return super().loss(model, params, batch, key, state)
        log_f = model.log_f_batch
        return log_f(params, state).mean() - log_f(params, batch).mean()

    def per_datum_loss(self, model, params, x, key, state):
        if self.persistent:
            negative_term = model.log_f_batch(params, state).mean()
        else:
            negative = sweeps(model, params, x[None], key, self.k, self.step_size, local=True)[0]
            negative_term = model.log_f(params, negative)
        return negative_term - model.log_f(params, x)

    def is_converged(self, grad_norm, loss_trace) -> bool:
        """The surrogate loss (mean log f of negatives minus data) has mean zero at the CD fixed
        point: converged when its mean over the last half of the fit is within 3 standard
        errors of zero (standard error from 10 batch means, robust to autocorrelation)."""
        tail = np.asarray(loss_trace)[len(loss_trace) // 2 :]
        if tail.size < 10 or not np.all(np.isfinite(tail)):
            return False
        means = np.array([b.mean() for b in np.array_split(tail, 10)])
        return bool(abs(means.mean()) <= 3 * means.std(ddof=1) / np.sqrt(10) + 1e-12)
