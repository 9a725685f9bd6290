"""log Z(θ) by annealed importance sampling in data space (Neal 2001), where Z is intractable.

From the uniform distribution on a two-valued support (log Z_0 = sites · log 2) to
p_θ ∝ f_θ along the geometric path π_t ∝ f_θ^t, t = t_0 = 0 < t_1 < ... < t_T = 1: each
particle starts uniform, gains log w += (t_k - t_{k-1}) log f_θ(x) and then moves by
``num_sweeps`` sweeps of a kernel that leaves π_{t_k} invariant
(``model.annealed_run``: the checkerboard at (tβ, th) for the Ising model, generic Gibbs
on t · log f otherwise). Then

    Z(θ) ≈ Z_0 · mean(w),

unbiased for Z, with the delta-method standard error of its log from the particles'
weights (they are independent). Used where no exact log Z exists: held-out likelihoods of
large lattices, the evidence of models with intractable Z, RBMs.

Reference: R. M. Neal (2001), Annealed importance sampling, Statistics and Computing 11.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from bayesgen._compiled import per_model
from bayesgen.errors import MethodError
from bayesgen.normalizers.importance import log_mean_weight

__all__ = ["ais_log_normalizer"]


def ais_log_normalizer(
    model,
    params,
    key: jax.Array,
    *,
    num_particles: int = 1000,
    num_temperatures: int = 500,
    num_sweeps: int = 1,
):
    """``(log Z(θ), standard error)`` by annealed importance sampling.

    Args:
      model: a model on a two-valued support (spins or bits).
      params: the parameters θ.
      key: PRNG key.
      num_particles: independent annealing runs (the standard error falls as 1/sqrt).
      num_temperatures: steps of the linear schedule t_k = k / T.
      num_sweeps: kernel sweeps per temperature.

    Returns:
      Two scalars: the log Z estimate and its Monte Carlo standard error.
    """
    support = model.support
    if not support.two_valued:
        raise MethodError(
            f"data-space AIS starts from the uniform distribution on a two-valued support; "
            f"{model!r} has {support.name} data. Use an exact log Z or quadrature instead"
        )
    params = model.check_params(params)
    run = _compiled(model, int(num_particles), int(num_temperatures), int(num_sweeps))
    return run(params, key)


@per_model
def _compiled(model, num_particles, num_temperatures, num_sweeps):
    a, b = model.support.values
    shape = model.support.event_shape
    sites = math.prod(shape)

    @jax.jit
    def run(params, key):
        dtype = jnp.asarray(jax.tree.leaves(params)[0]).dtype
        k_init, k_run = jax.random.split(key)
        bits = jax.random.bernoulli(k_init, 0.5, (num_particles, *shape))
        xs = jnp.where(bits, b, a).astype(dtype)
        temps = jnp.linspace(0.0, 1.0, num_temperatures + 1, dtype=dtype)

        def step(carry, inputs):
            xs, log_w = carry
            k, t_prev, t = inputs
            log_w = log_w + (t - t_prev) * model.log_f_batch(params, xs)
            xs = model.annealed_run(k, params, xs, t, num_sweeps)
            return (xs, log_w), None

        keys = jax.random.split(k_run, num_temperatures)
        init = (xs, jnp.zeros(num_particles, dtype))
        (_, log_w), _ = jax.lax.scan(step, init, (keys, temps[:-1], temps[1:]))
        log_mean, se = log_mean_weight(log_w)
        return log_mean + sites * jnp.log(2.0).astype(dtype), se

    return run
