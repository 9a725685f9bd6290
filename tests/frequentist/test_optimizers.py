"""Plain optax transformations work in the driver and are compiled once per object."""

import jax
import numpy as np
import optax

import bayesgen as bg
from bayesgen.frequentist import PseudoLikelihood

MODEL = bg.models.Ising((3, 3))
TRUTH = {"beta": 0.3, "h": 0.05}


def test_adam_reaches_the_lbfgs_optimum_and_is_not_recompiled():
    data = MODEL.sample(jax.random.key(0), TRUTH, 500)
    ref = bg.fit(MODEL, data, "pseudo_likelihood")
    traces = []

    class Counting(PseudoLikelihood):
        def per_datum_loss(self, model, params, x, key, state):
            traces.append(1)
            return super().per_datum_loss(model, params, x, key, state)

    est, adam = Counting(), optax.adam(0.02)
    first = bg.fit(MODEL, data, est, optimizer=adam, num_steps=3000)
    n_traces = len(traces)
    bg.fit(MODEL, MODEL.sample(jax.random.key(1), TRUTH, 500), est, optimizer=adam, num_steps=3000)
    assert len(traces) == n_traces  # same optimiser object, same shapes: no retrace
    np.testing.assert_allclose(first.params["beta"], ref.params["beta"], atol=1e-4)
    np.testing.assert_allclose(first.params["h"], ref.params["h"], atol=1e-4)
