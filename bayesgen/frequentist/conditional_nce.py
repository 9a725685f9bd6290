"""Conditional noise-contrastive estimation (Ceylan & Gutmann 2018): noise made from the data.

Classic NCE sets the data against draws from a fixed noise law, and learns nothing once the
two are separable: independent sites against one 16 x 16 lattice near the critical coupling
are told apart with certainty. Conditional NCE draws each noise sample y from a kernel
q(y | x) around its own datum, here symmetric (q(y | x) = q(x | y)), so that the classifier
of the ordered pair (x, y) against (y, x) has the log-odds

    G(x, y) = log f_θ(x) - log f_θ(y)

in which both Z(θ) and the noise density cancel. The per-datum loss is
Σ_k softplus(-G(x, y_k)) over ``num_noise`` draws, consistent for θ for any such kernel
(Ceylan & Gutmann 2018, theorem 1). The noise stays as close to the data as the kernel
makes it, at any lattice size:

* two-valued data: y is x with ``flips`` sites (default one), chosen uniformly without
  replacement, set to their other value. More flips make the pair easier to tell apart:
  ten flips of one 32 x 32 lattice near the critical coupling almost always lower its bond
  sum, and the classifier separates them (β ran off to 1.0, flagged);
* real data: y = x + σ ε, ε ~ N(0, I), σ = ``noise_scale`` times the data's mean sd.

By default each datum has at least 10 noise draws and, together, the data have as many as
one lattice has sites (one large lattice: one draw per site, at most 512), so that one
datum's information is used. The noise draws are fixed per datum for the fit (common random
numbers), so the objective
is smooth and deterministic (L-BFGS), and each datum with its draws is one unit of the
sandwich. There is no free log normaliser: Z is not estimated, only cancelled. The fitted
classifier's accuracy is reported and checked as for NCE.

Reference: C. Ceylan, M. U. Gutmann (2018), Conditional noise-contrastive estimation of
unnormalised models, ICML, arXiv:1806.03664.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from bayesgen.frequentist.base import Estimator, unsupported
from bayesgen.frequentist.nce import classifier_check
from bayesgen.support import Reals

MIN_NOISE = 10  # the fewest noise draws per datum by default
# ... and the most: the bootstrap refits 100 datasets at once, each datum with its draws in
# memory (4,096 draws of one 64 x 64 lattice asked for 54 GB)
MAX_NOISE = 512


@dataclass(frozen=True)
class ConditionalNCE(Estimator):
    """Conditional NCE with ``num_noise`` noise draws per datum.

    Args:
      num_noise: noise draws per datum; None: the number of sites over the number of data,
        at least 10 and at most 512.
      flips: sites flipped per noise draw (two-valued data).
      noise_scale: the Gaussian perturbation's sd relative to the data's (real data).
    """

    num_noise: int | None = None
    flips: int = 1
    noise_scale: float = 0.3
    name = "conditional_nce"

    def describe_normalizer(self, model) -> str:
        if isinstance(model.support, Reals):
            noise = f"a Gaussian step of {self.noise_scale} data sd"
        else:
            noise = f"{self.flips} changed site" + ("s" if self.flips > 1 else "")
        return f"cancelled: each datum against noise draws made from it ({noise}; conditional NCE)"

    def check(self, model) -> None:
        if not (isinstance(model.support, Reals) or model.support.finite):
            raise unsupported(
                self, model, f"it has no noise kernel for {model.support.name}", "nce"
            )
        if not 1 <= self.flips <= math.prod(model.support.event_shape):
            raise unsupported(self, model, f"flips={self.flips} is not a number of its sites", "1")

    def _num_noise(self, model, n: int) -> int:
        sites = math.prod(model.support.event_shape)
        return self.num_noise or min(MAX_NOISE, max(MIN_NOISE, -(-sites // n)))

    def init_state(self, model, params, data, key):
        """``(the data's mean sd, a placeholder whose length is the noise draws per datum)``:
        the count follows the number of data, and the per-datum loss sees one datum."""
        sd = jnp.mean(jnp.std(data.reshape(data.shape[0], -1), axis=0))
        return sd, jnp.zeros(self._num_noise(model, data.shape[0]), data.dtype)

    def _noise(self, model, state, key, x):
        sd, slots = state
        if isinstance(model.support, Reals):
            eps = jax.random.normal(key, (slots.size, *x.shape), x.dtype)
            return x + self.noise_scale * sd * eps
        values = model.support.values
        table = jnp.asarray(values, x.dtype)
        flat = x.reshape(-1)

        def one(k):  # each chosen site to a uniform other value: a symmetric kernel
            k_site, k_value = jax.random.split(k)
            sites = jax.random.choice(k_site, flat.size, (self.flips,), replace=False)
            current = jnp.argmax(flat[sites, None] == table, axis=1)
            shift = jax.random.randint(k_value, (self.flips,), 1, len(values))
            return flat.at[sites].set(table[(current + shift) % len(values)]).reshape(x.shape)

        return jax.vmap(one)(jax.random.split(key, slots.size))

    def _log_odds(self, model, params, x, key, state):
        """G(x, y_k) for the datum ``x`` and its noise draws."""
        y = self._noise(model, state, key, x)
        return model.log_f(params, x) - model.log_f_batch(params, y)

    def per_datum_loss(self, model, params, x, key, state):
        return jnp.sum(jax.nn.softplus(-self._log_odds(model, params, x, key, state)))

    def diagnostic_values(self, model, params, data, key, state) -> dict:
        """The fitted classifier's accuracy on the ordered pairs (the fit's own draws)."""
        keys = jax.random.split(key, data.shape[0])  # the loss's per-datum keys
        g = jax.vmap(self._log_odds, (None, None, 0, 0, None))(model, params, data, keys, state)
        return {"accuracy": jnp.mean(g > 0)}

    def checks(self, values: dict, n: int) -> list:
        return [classifier_check(values["accuracy"], "the noise made from each datum")]
