"""Every local device: chains, replicates and studies spread their batch over the devices
and give the results of one device.

The checks run in a fresh Python started with four host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=4``: XLA reads the flag once, when
the first backend starts, so it cannot be set inside this test process). There each
computation runs twice, on all four devices and on one (``devices=1``), with the same key.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    jax.config.update("jax_enable_x64", True)
    import arviz as az
    import bayesgen as bg
    from bayesgen import _engine

    shards = []  # (devices, [each output leaf's shard shapes along its batch axis])
    take = _engine.Spread.take

    def recording(self, out, axes):
        def sizes(axis, tree):
            return [  # "members per device x devices", as text (a leaf of the tree)
                ",".join(map(str, sorted({s.data.shape[axis] for s in x.addressable_shards})))
                + f" x {len({s.device for s in x.addressable_shards})}"
                for x in jax.tree.leaves(tree)
            ]
        shards.append((len(self.devices), self.padded,
                       jax.tree.leaves(jax.tree.map(sizes, axes, out,
                                                    is_leaf=lambda x: x is None))))
        return take(self, out, axes)

    _engine.Spread.take = recording
    model = bg.models.Ising(shape=(3, 3))
    truth = {"beta": 0.3, "h": 0.05}
    data = model.sample(jax.random.key(1), truth, 200)
    report = {"devices": len(jax.local_devices())}

    def posterior(method, **kw):
        out = {}
        for d in (None, 1):
            shards.clear()
            r = bg.sample_posterior(model, data, method, devices=d, **kw)
            tree = r.to_arviz()
            out[str(d)] = {
                "device": r.device,
                "mean": {k: float(v) for k, v in r.mean().items()},
                "mcse": {k: float(az.mcse(tree)[k]) for k in r.samples},
                "ok": r.ok,
                "why": r.why,
                "shards": list(shards),
            }
        return out

    report["nuts"] = posterior("nuts", num_warmup=300, num_samples=300)
    report["exchange"] = posterior("exchange", num_warmup=300, num_samples=600)
    methods = ["pseudo_likelihood", "exact_mle"]
    study = {}
    for d in (None, 1):
        shards.clear()
        s = bg.evaluation.coverage_study(model, truth, methods, n=100, replicates=64, devices=d)
        reps = bg.frequentist.fit_replicates(
            model, model.sample_datasets(jax.random.split(jax.random.key(3), 64), truth, 100),
            "exact_mle", devices=d,
        )
        study[str(d)] = {
            "table": s.table[["bias", "rmse", "mean width", "coverage"]].values.tolist(),
            "device": sorted(set(s.table["device"])),
            "fits": {k: np.asarray(v).tolist() for k, v in reps.params.items()},
            "stderr": {k: np.asarray(v).tolist() for k, v in reps.stderr.items()},
            "fit device": reps.device,
            "shards": list(shards),
        }
    report["study"] = study
    shards.clear()
    datasets = model.sample_datasets(jax.random.split(jax.random.key(4), 6), truth, 100)
    r = bg.bayesian.sample_replicates(model, datasets, "nuts", num_warmup=100, num_samples=100,
                                      num_chains=2)
    report["replicates"] = {"device": r.device, "shards": list(shards)}
    print("REPORT" + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(s for s in done.stdout.splitlines() if s.startswith("REPORT"))
    return json.loads(line.removeprefix("REPORT"))


def _quarters(shards, batch):
    """Every output of every spread call put batch / 4 of its members on each of 4
    devices."""
    assert shards
    for devices, padded, leaves in shards:
        assert (devices, padded) == (4, batch)
        for sizes in leaves:
            assert sizes == f"{batch // 4} x 4", sizes


@pytest.mark.slow
@pytest.mark.parametrize("method", ["nuts", "exchange"])
def test_chains_spread_over_four_devices_with_the_law_of_one(report, method):
    assert report["devices"] == 4
    four, one = report[method]["None"], report[method]["1"]
    assert (four["device"], one["device"]) == ("4 x cpu", "1 x cpu")
    _quarters(four["shards"], 4)
    assert one["shards"] and all(s[0] == 1 for s in one["shards"])
    assert four["ok"] and one["ok"], (four["why"], one["why"])
    for name, m in four["mean"].items():
        mcse = (four["mcse"][name] ** 2 + one["mcse"][name] ** 2) ** 0.5
        assert abs(m - one["mean"][name]) < 4 * mcse, (name, m, one["mean"][name], mcse)


@pytest.mark.slow
def test_a_study_spread_over_four_devices_equals_one_device(report):
    import numpy as np

    four, one = report["study"]["None"], report["study"]["1"]
    assert (four["device"], one["device"]) == (["4 x cpu"], ["1 x cpu"])
    assert (four["fit device"], one["fit device"]) == ("4 x cpu", "1 x cpu")
    _quarters(four["shards"], 64)
    for k in four["fits"]:
        np.testing.assert_allclose(four["fits"][k], one["fits"][k], rtol=0, atol=1e-8)
        np.testing.assert_allclose(four["stderr"][k], one["stderr"][k], rtol=0, atol=1e-8)
    np.testing.assert_allclose(four["table"], one["table"], rtol=0, atol=1e-8)
    # six replicates on four devices: padded to eight, two on each, the padding dropped
    reps = report["replicates"]
    assert reps["device"] == "4 x cpu"
    for devices, padded, leaves in reps["shards"]:
        assert (devices, padded) == (4, 8) and all(s == "2 x 4" for s in leaves)
