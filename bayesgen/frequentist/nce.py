"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010): log Z as a free parameter.

Each datum x_i is set against ``num_noise`` = ν draws y_ij from a known noise density p_n,
and the model is fitted as a logistic classifier of data against noise, with log-odds

    G(u) = log f_θ(u) - c - log p_n(u) - log ν,

where c is a free parameter. The per-datum loss is softplus(-G(x_i)) + Σ_j softplus(G(y_ij));
at the optimum c estimates log Z(θ̂) (reported as the nuisance parameter
``log_normalizer``), and θ̂ is consistent for any p_n that is positive where the data are.
The noise is fitted to the data once (state): a Gaussian with the data's mean and covariance
for real data; uniform on the sphere for unit vectors; for binary data, independent sites
with the data's marginal frequencies (vectors), or on a lattice (data of two or more axes)
an **autoregressive** law in raster order, each site a logistic regression on the
``order`` sites before it (one row and one site back by default: the left, upper-left,
upper and upper-right neighbours of a 2-D lattice), its weights shared by every site and
fitted to the data by Newton's method (a fully visible sigmoid belief network with
stationary weights). Its density is exact and its draws sequential. Independent sites are
separable from a 16 x 16 lattice near the critical coupling (the fitted classifier's
accuracy is 1.0 at β = 0.4, n = 100, and the estimate β = 4.5 against 0.4); the
autoregressive law captures the neighbours' correlation, and the classifier's accuracy is
0.70 there. Either keeps every site's probability within [0.05, 0.95], so that the noise
is positive wherever the model is. The noise draws are
fixed per datum for the fit (common random numbers), so the objective is smooth and
deterministic (L-BFGS) and the sandwich covariance, over (θ, c) jointly, treats each datum
with its noise draws as one unit.

Reference: M. Gutmann, A. Hyvärinen (2010), Noise-contrastive estimation: a new estimation
principle for unnormalized statistical models, AISTATS.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from bayesgen.diagnostics import Check
from bayesgen.errors import MethodError
from bayesgen.frequentist.base import MIN_SANDWICH_DATA, Estimator, unsupported
from bayesgen.support import Reals, Sphere, sphere_log_area, uniform_unit_vectors

# The fitted classifier's balanced accuracy above which the noise counts as separable from
# the data. The NCE gradient from a datum or a noise draw is its misclassification
# probability times its score, so when the classifier is right with near certainty almost
# every draw contributes nothing: at 99% about one draw in a hundred carries the fit, and
# the estimate (and log Z) is an extrapolation from the tails of both laws (Gutmann &
# Hyvärinen 2012, JMLR 13, choose the noise close to the data for this reason).
MAX_CLASSIFIER_ACCURACY = 0.99


# Binary sites' noise probabilities are kept within [P_MIN, 1 - P_MIN] (a site's logit
# within ±logit(1 - P_MIN)), so that the noise is positive wherever the model is.
P_MIN = 0.05
BINARY_NOISES = ("autoregressive", "independent")
NEWTON_STEPS = 30  # of the autoregressive noise's logistic regression (convex; a ridge of 1)


@dataclass(frozen=True)
class NCE(Estimator):
    """Noise-contrastive estimation with ``num_noise`` noise draws per datum.

    Args:
      num_noise: noise draws per datum (ν).
      noise: for binary data, ``"autoregressive"`` or ``"independent"`` sites; None: the
        autoregressive law on lattices (data of two or more axes), independent sites for
        vectors. Real data always get a Gaussian, unit vectors the uniform law.
      order: the autoregressive noise's context, in sites before each site in raster order;
        None: the last axis's length plus one (one row and one site back).
    """

    num_noise: int = 10
    noise: str | None = None
    order: int | None = None
    name = "nce"

    def _binary_noise(self, model) -> str:
        if self.noise is not None:
            return self.noise
        if len(model.support.values) > 2:  # categories: independent sites
            return "independent"
        return "autoregressive" if len(model.support.event_shape) >= 2 else "independent"

    def _order(self, model) -> int:
        shape = tuple(model.support.event_shape)
        size = int(np.prod(shape))
        return min(size - 1, self.order if self.order is not None else shape[-1] + 1)

    def describe_normalizer(self, model) -> str:
        if isinstance(model.support, Sphere):
            noise = "uniform"
        elif isinstance(model.support, Reals):
            noise = "a Gaussian"
        elif self._binary_noise(model) == "independent":
            noise = "independent sites"
        else:
            noise = f"autoregressive (order {self._order(model)})"
        return (
            f"estimated: log Z as a free parameter, data against {self.num_noise} draws per "
            f"datum of {noise} noise fitted to the data"
        )

    def check(self, model) -> None:
        support = model.support
        if not (isinstance(support, Reals | Sphere) or support.finite):
            raise unsupported(
                self, model, f"it has no noise distribution for {model.support.name}", "exact_mle"
            )
        if self.noise is not None and self.noise not in BINARY_NOISES:
            raise MethodError(f"unknown NCE noise {self.noise!r}; choose one of {BINARY_NOISES}")
        if self.noise == "autoregressive" and len(support.values) > 2:
            raise unsupported(
                self, model, "the autoregressive noise is for two-valued sites", "noise=None"
            )
        if self.order is not None and (int(self.order) != self.order or self.order < 1):
            raise MethodError(f"order must be a positive integer; got {self.order!r}")

    def nuisance_init(self, model, data) -> dict:
        return {"log_normalizer": jnp.zeros((), data.dtype)}

    def init_state(self, model, params, data, key):
        flat = data.reshape(data.shape[0], -1)
        if isinstance(model.support, Sphere):
            return ()
        if isinstance(model.support, Reals):
            mean = flat.mean(axis=0)
            cov = jnp.atleast_2d(jnp.cov(flat, rowvar=False))
            cov = cov + 1e-9 * jnp.trace(cov) / cov.shape[0] * jnp.eye(
                cov.shape[0], dtype=cov.dtype
            )
            return mean, jnp.linalg.cholesky(cov)
        values = model.support.values
        if len(values) > 2:  # each site's category frequencies, floored at P_MIN / q
            table = jnp.asarray(values, flat.dtype)
            freq = jnp.mean(flat[:, :, None] == table, axis=0) + P_MIN / len(values)
            return (jnp.log(freq / freq.sum(axis=1, keepdims=True)),)
        b = values[1]
        if self._binary_noise(model) == "autoregressive":
            spins = jnp.where(flat == b, 1.0, -1.0).astype(flat.dtype)
            return (_autoregressive_fit(spins, self._order(model)),)
        p_b = jnp.clip(jnp.mean(flat == b, axis=0), P_MIN, 1 - P_MIN)
        return (p_b,)

    def _noise(self, model, state, key, shape):
        """``num_noise`` noise draws of event shape ``shape``."""
        if isinstance(model.support, Sphere):
            return uniform_unit_vectors(key, (self.num_noise, *shape))
        if isinstance(model.support, Reals):
            mean, chol = state
            z = jax.random.normal(key, (self.num_noise, mean.size), mean.dtype)
            return (mean + z @ chol.T).reshape(self.num_noise, *shape)
        if len(model.support.values) > 2:
            (log_p,) = state
            table = jnp.asarray(model.support.values, log_p.dtype)
            idx = jax.random.categorical(key, log_p, shape=(self.num_noise, log_p.shape[0]))
            return table[idx].reshape(self.num_noise, *shape)
        a, b = model.support.values
        if self._binary_noise(model) == "autoregressive":
            (w,) = state
            is_b = _autoregressive_sample(w, key, self.num_noise, int(np.prod(shape))) > 0
            return jnp.where(is_b, b, a).astype(w.dtype).reshape(self.num_noise, *shape)
        (p_b,) = state
        is_b = jax.random.uniform(key, (self.num_noise, p_b.size), p_b.dtype) < p_b
        return jnp.where(is_b, b, a).astype(p_b.dtype).reshape(self.num_noise, *shape)

    def _log_p_noise(self, model, state, x):
        flat = x.reshape(-1)
        if isinstance(model.support, Sphere):
            return jnp.asarray(-sphere_log_area(flat.size), flat.dtype)
        if isinstance(model.support, Reals):
            mean, chol = state
            z = jax.scipy.linalg.solve_triangular(chol, flat - mean, lower=True)
            log_det = jnp.sum(jnp.log(jnp.diag(chol)))
            return -0.5 * jnp.sum(z**2) - log_det - 0.5 * flat.size * jnp.log(2 * jnp.pi)
        if len(model.support.values) > 2:
            (log_p,) = state
            table = jnp.asarray(model.support.values, flat.dtype)
            return jnp.sum(jnp.where(flat[:, None] == table, log_p, 0.0))
        b = model.support.values[1]
        if self._binary_noise(model) == "autoregressive":
            (w,) = state
            return _autoregressive_log_prob(w, jnp.where(flat == b, 1.0, -1.0).astype(w.dtype))
        (p_b,) = state
        return jnp.sum(jnp.where(flat == b, jnp.log(p_b), jnp.log1p(-p_b)))

    def _log_odds(self, model, params, x, key, state):
        """G at the datum ``x`` and at its ``num_noise`` noise draws."""
        log_nu = jnp.log(self.num_noise)
        c = params["log_normalizer"]
        g_data = model.log_f(params, x) - c - self._log_p_noise(model, state, x) - log_nu
        y = self._noise(model, state, key, x.shape)
        log_p_y = jax.vmap(self._log_p_noise, (None, None, 0))(model, state, y)
        g_noise = model.log_f_batch(params, y) - c - log_p_y - log_nu
        return g_data, g_noise

    def diagnostic_values(self, model, params, data, key, state) -> dict:
        """The fitted classifier's balanced accuracy on the data and their noise draws (the
        fit's own)."""
        keys = jax.random.split(key, data.shape[0])  # the loss's per-datum keys
        g_data, g_noise = jax.vmap(self._log_odds, (None, None, 0, 0, None))(
            model, params, data, keys, state
        )
        return {"accuracy": 0.5 * (jnp.mean(g_data > 0) + jnp.mean(g_noise < 0))}

    def checks(self, values: dict, n: int) -> list:
        """Above :data:`MAX_CLASSIFIER_ACCURACY` the noise is separable; below
        :data:`MIN_SANDWICH_DATA` data NCE says little about the model."""
        checks = [classifier_check(values["accuracy"], "the noise")]
        if n < MIN_SANDWICH_DATA:
            checks.append(
                Check(
                    "data",
                    False,
                    float(n),
                    f"NCE classifies n = {n} data against noise: it is consistent as the number "
                    f"of data grows (not the size of each), and below {MIN_SANDWICH_DATA} a "
                    "classifier that sets one lattice apart from its noise says little about the "
                    "model; use conditional_nce, pseudo_likelihood or mcmle",
                )
            )
        return checks

    def per_datum_loss(self, model, params, x, key, state):
        g_data, g_noise = self._log_odds(model, params, x, key, state)
        return jax.nn.softplus(-g_data) + jnp.sum(jax.nn.softplus(g_noise))


def classifier_check(accuracy: float, noise: str) -> Check:
    """The ``classifier`` check of an NCE fit: its balanced accuracy at most
    :data:`MAX_CLASSIFIER_ACCURACY`, else ``noise`` (in words) is separable from the data."""
    if accuracy <= MAX_CLASSIFIER_ACCURACY:
        return Check(
            "classifier",
            True,
            accuracy,
            f"the data and {noise} overlap: balanced accuracy {accuracy:.3f}",
        )
    return Check(
        "classifier",
        False,
        accuracy,
        f"{noise} is separable from the data (the fitted classifier's balanced accuracy is "
        f"{accuracy:.4f} > {MAX_CLASSIFIER_ACCURACY}): NCE learns the parameters from the few "
        "draws it misclassifies, so the estimate and its interval are not to be trusted; use "
        "noise closer to the data (conditional_nce makes it from each datum) or another method",
    )


# -- the autoregressive noise of binary lattices -------------------------------------------
# Sites are spins s = ±1 in raster order; site i's logit is w_0 + Σ_k w_k s_{i-k} over the
# ``order`` sites before it (0 before the first), clipped to ±logit(1 - P_MIN).


def _lagged(s, order):
    """``(..., d)`` spins to ``(..., d, order)``: s_{i-k} for k = 1..order, 0 before the
    first site."""
    d = s.shape[-1]
    padded = jnp.pad(s, [(0, 0)] * (s.ndim - 1) + [(order, 0)])
    return jnp.stack([padded[..., order - k : order - k + d] for k in range(1, order + 1)], -1)


def _logits(w, context):
    bound = jnp.log((1 - P_MIN) / P_MIN)
    return jnp.clip(w[0] + context @ w[1:], -bound, bound)


def _autoregressive_fit(spins, order):
    """The weights ``(order + 1,)`` maximising the autoregressive log-likelihood of the
    spins ``(n, d)``: a logistic regression of each site on the sites before it, by
    Newton's method with a ridge of 1 (negligible beside n·d sites; it keeps the weights
    finite when the data are separable, as one ordered lattice is)."""
    features = jnp.concatenate(
        [jnp.ones((*spins.shape, 1), spins.dtype), _lagged(spins, order)], -1
    )
    features = features.reshape(-1, order + 1)
    y = (spins.reshape(-1) + 1) / 2

    def newton(w, _):
        p = jax.nn.sigmoid(features @ w)
        grad = features.T @ (y - p) - w
        hess = (features * (p * (1 - p))[:, None]).T @ features + jnp.eye(order + 1, dtype=w.dtype)
        return w + jnp.linalg.solve(hess, grad), None

    w0 = jnp.zeros(order + 1, spins.dtype)
    return jax.lax.scan(newton, w0, None, length=NEWTON_STEPS)[0]


def _autoregressive_log_prob(w, s):
    """log p(s) of the spins ``s`` ``(d,)``: Σ_i log σ(s_i · logit_i)."""
    return jnp.sum(jax.nn.log_sigmoid(s * _logits(w, _lagged(s, w.size - 1))))


def _autoregressive_sample(w, key, num, d):
    """``(num, d)`` spins drawn site by site (a scan over the d sites, the draws batched)."""
    order = w.size - 1
    uniforms = jax.random.uniform(key, (d, num), w.dtype)

    def site(recent, u):  # recent: (num, order), the latest site first
        s = jnp.where(u < jax.nn.sigmoid(_logits(w, recent)), 1.0, -1.0).astype(w.dtype)
        return jnp.concatenate([s[:, None], recent[:, :-1]], axis=1), s

    return jax.lax.scan(site, jnp.zeros((num, order), w.dtype), uniforms)[1].T
