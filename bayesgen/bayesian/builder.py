"""The NumPyro model of a bayesgen model: priors from ``model.prior``, the likelihood from
``model.log_unnormalized`` and the exact ``log_normalizer``.

    θ ~ prior;   factor("likelihood", Σ_i [log f_θ(x_i) - log Z(θ)])

The per-datum log-likelihood is recorded as the deterministic site ``log_likelihood``
(shape ``(n,)``) so that ArviZ's LOO works; deterministic sites are evaluated only when
draws are post-processed, never inside the sampler's potential. Hand it to any NumPyro
kernel: ``NUTS(numpyro_model(model))``, then ``mcmc.run(key, data)``.
"""

from __future__ import annotations

import numpyro

from bayesgen.errors import IntractableNormalizerError

__all__ = ["LOG_LIKELIHOOD_SITE", "numpyro_model"]

LOG_LIKELIHOOD_SITE = "log_likelihood"


def numpyro_model(model):
    """A NumPyro model function ``fn(data)`` for ``model`` (needs an exact log Z).

    Raises:
      IntractableNormalizerError: the model has no exact log Z.
    """
    if not model.has_exact_normalizer:
        raise IntractableNormalizerError(
            f"the exact-likelihood NumPyro model needs log Z, which {model!r} does not have; "
            "sample its posterior with exchange, generalized_bayes or pseudo_posterior"
        )

    def fn(data):
        params = {name: numpyro.sample(name, prior) for name, prior in model.prior.items()}
        log_f = model.log_f_batch(params, data)
        pointwise = numpyro.deterministic(LOG_LIKELIHOOD_SITE, log_f - model.log_z(params))
        numpyro.factor("likelihood", pointwise.sum())

    return fn
