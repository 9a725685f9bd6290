"""sample_replicates: one computation for every chain of every replicate, draw for draw the
same as sample_posterior on each dataset with its key; a shared kernel survives reuse."""

import jax
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.bayesian import driver, sample_replicates


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nuts", "exchange"])
def test_each_replicate_is_sample_posterior_on_its_dataset(method, monkeypatch):
    model = bg.models.Ising((3, 3))
    keys = jax.random.split(jax.random.key(0), 3)
    datasets = jax.vmap(lambda k: model.sample(k, {"beta": 0.3, "h": 0.1}, 60))(keys)
    settings = dict(num_warmup=50, num_samples=40, num_chains=2)
    if method == "exchange":  # run in two batches, out of order: each draw lands at its own
        batches = [np.array([2, 0]), np.array([1])]
        monkeypatch.setattr(driver, "_groups", lambda method, extras, replicates: batches)
    reps = sample_replicates(model, datasets, method, key=jax.random.key(1), **settings)
    assert reps.samples["beta"].shape == (3, 2, 40) and reps.finite.all()
    assert reps.r_hat.shape == (3,) and reps.timing["run_s"] > 0
    rep_keys = jax.random.split(jax.random.key(1), 3)
    for r in (0, 2):
        one = bg.sample_posterior(model, datasets[r], method, key=rep_keys[r], **settings)
        np.testing.assert_allclose(reps.samples["beta"][r], one.samples["beta"], rtol=1e-9)
        np.testing.assert_allclose(reps.samples["h"][r], one.samples["h"], rtol=1e-9)
        # the same draws, the same verdict: 80 draws cannot give the ESS of 200 required
        assert reps.why[r] == one.why and not reps.ok[r] and "too few effective" in one.why
    lo, hi = reps.interval(0.9)["beta"]
    assert (
        lo.shape == (3,) and (lo < reps.mean()["beta"]).all() and (reps.mean()["beta"] < hi).all()
    )
    # The cached kernel is initialised again for another data size and still samples.
    more = bg.sample_posterior(model, datasets[0, :30], method, **settings)
    assert np.isfinite(more.samples["beta"]).all()


def test_bad_replicate_datasets_are_package_errors():
    model = bg.models.Ising((3, 3))
    with pytest.raises(bg.DataError, match="replicates, n"):
        sample_replicates(model, np.ones((5, 3, 3)), "nuts")
    with pytest.raises(bg.DataError):
        sample_replicates(model, np.full((2, 5, 3, 3), 0.5), "nuts")


def test_replicates_are_batched_by_run_length_where_it_pays():
    """Vmapped replicates run as long as the longest; approximate exchange's sweeps, chosen
    per dataset, vary (20 to 160 over 40 datasets of 16 x 16), so replicates of equal
    length are run together, unless a compile per batch would cost more than it saves."""
    exchange = bg.bayesian.Exchange()
    varied = {"num_sweeps": np.array([40, 20, 160, 40, 20, 40])}
    groups = driver._groups(exchange, varied, 6)
    assert [g.tolist() for g in groups] == [[1, 4], [0, 3, 5], [2]]
    # 140 sweeps' work batched against 160 together: not worth a second compile
    assert len(driver._groups(exchange, {"num_sweeps": np.array([20, 40, 40, 40])}, 4)) == 1
    assert len(driver._groups(bg.bayesian.NUTS(), {}, 4)) == 1
