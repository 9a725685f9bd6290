"""Plain optax transformations work in the driver and are compiled once per object."""

import jax
import numpy as np
import optax
import pytest

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


def test_a_configured_estimator_carries_its_schedule():
    """``num_steps`` and ``optimizer`` given to the estimator are used wherever it runs
    (here ``bg.fit`` and ``bg.compare``); ``bg.fit``'s own arguments override them."""
    data = MODEL.sample(jax.random.key(0), TRUTH, 300)
    frozen = optax.sgd(0.0)  # never moves: the fit ends where it started
    est = bg.frequentist.ContrastiveDivergence(num_steps=40, optimizer=frozen)
    fit = bg.fit(MODEL, data, est, uncertainty="none")
    assert len(fit.loss_trace) == est.num_steps
    np.testing.assert_allclose(fit.params["beta"], 0.0)
    fit = bg.fit(MODEL, data, est, num_steps=25, optimizer=optax.adam(0.05), uncertainty="none")
    assert len(fit.loss_trace) == 25 and float(fit.params["beta"]) != 0.0
    cmp = bg.compare(MODEL, data, methods=[est], uncertainty="none")
    assert cmp.table["grad evals"].tolist() == [est.num_steps]
    assert est == bg.frequentist.ContrastiveDivergence(num_steps=40, optimizer=frozen)
    assert hash(est) == hash(bg.frequentist.ContrastiveDivergence(num_steps=40, optimizer=frozen))
    assert PseudoLikelihood() == PseudoLikelihood(num_steps=None)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(bg.MethodError, match="num_steps must be a positive integer"):
            bg.fit(MODEL, data, PseudoLikelihood(num_steps=bad))


def test_an_optimizer_option_that_is_a_function_follows_the_number_of_steps():
    """``optimizer=f`` is called with the fit's number of steps (its own, or ``bg.fit``'s):
    a decaying schedule decays over the fit actually run."""
    data = MODEL.sample(jax.random.key(0), TRUTH, 300)
    seen = []

    def schedule(num_steps):
        seen.append(num_steps)
        return bg.frequentist.adam_cosine(0.05, num_steps)

    est = PseudoLikelihood(num_steps=50, optimizer=schedule)
    bg.fit(MODEL, data, est, uncertainty="none")
    bg.fit(MODEL, data, est, num_steps=20, uncertainty="none")
    assert seen == [50, 20]
