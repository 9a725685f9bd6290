"""What spreading a batch over local devices buys: 1 device against 2 (or more).

A 256-replicate coverage study of Ising 4 x 4 (n = 500; pseudo-likelihood and exact MLE,
``fit_replicates``; and NUTS with 4 chains of 200 + 200 per replicate on 32 of them,
``sample_replicates``) and one 8-chain NUTS posterior (n = 500, 1000 + 1000 draws), each on
``devices=1`` and on every local device, float64, after compilation (median of --reps
runs); the fits of the two layouts are checked equal to 1e-8. On a CPU the devices are the
host's cores split by ``XLA_FLAGS=--xla_force_host_platform_device_count=K`` (set here, for
K = --devices, before JAX starts, unless XLA_FLAGS already says); on a GPU machine they
are its GPUs. Prints a markdown table and writes JSON atomically to
benchmarks/results/devices.json.

    python benchmarks/devices.py [--devices 2] [--reps 3] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def _devices_flag() -> int:
    if "--devices" in sys.argv:
        k = int(sys.argv[sys.argv.index("--devices") + 1])
        del sys.argv[sys.argv.index("--devices") : sys.argv.index("--devices") + 2]
        return k
    return 2


K = _devices_flag()
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={K}"
    ).strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from _common import environment, parse_args  # noqa: E402


def _median_s(fn, reps: int):
    out = fn()  # compiles
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    args = parse_args(__doc__, "devices", reps=3, x64=True)
    import bayesgen as bg
    from bayesgen._engine import device_description
    from bayesgen._io import atomic_write_json
    from bayesgen.bayesian import driver as bayes_driver
    from bayesgen.frequentist import driver

    model = bg.models.Ising((4, 4))
    truth = model.check_params({"beta": 0.3, "h": 0.05})
    n, every = 500, len(jax.local_devices())
    datasets = model.sample_datasets(jax.random.split(jax.random.key(0), 256), truth, n)
    data = datasets[0]
    cases = {
        "256 fits, pseudo_likelihood": lambda d: driver.fit_replicates(
            model, datasets, "pseudo_likelihood", devices=d
        ),
        "256 fits, exact_mle": lambda d: driver.fit_replicates(
            model, datasets, "exact_mle", devices=d
        ),
        "32 posteriors, nuts, 4 chains x 200+200": lambda d: bayes_driver.sample_replicates(
            model, datasets[:32], "nuts", num_warmup=200, num_samples=200, devices=d
        ),
        "one posterior, nuts, 8 chains x 1000+1000": lambda d: bg.sample_posterior(
            model, data, "nuts", num_chains=8, devices=d, progress=False
        ),
    }
    rows = []
    for name, run in cases.items():
        one_s, one = _median_s(lambda run=run: run(1), args.reps)
        all_s, out = _median_s(lambda run=run: run(None), args.reps)
        if hasattr(one, "params"):
            for k in one.params:
                np.testing.assert_allclose(out.params[k], one.params[k], rtol=0, atol=1e-8)
        rows.append(
            {"case": name, "one_device_s": one_s, "all_devices_s": all_s, "speedup": one_s / all_s}
        )
    header = f"| case | 1 device s | {every} devices s | speed-up |"
    print(header + "\n|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['one_device_s']:.3f} | {r['all_devices_s']:.3f} | "
            f"{r['speedup']:.2f} |"
        )
    report = environment("devices", "float64")
    report.update({"devices": every, "device_description": device_description()})
    report["rows"] = rows
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
