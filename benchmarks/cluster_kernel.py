"""Swendsen–Wang against checkerboard Gibbs: sweeps, and seconds, to decorrelate a lattice.

Approximate exchange and Monte Carlo MLE replace exact draws by sweeps of the model's
kernel from the data, and need as many sweeps as the slowest sufficient statistic takes to
forget where it started. For each case, chains start at equilibrium (3,000 Gibbs sweeps
from random spins); each kernel then runs 200 sweeps, recording the statistics (bond sum,
magnetisation; |M|, which no statistic of the model is, for reference) after every sweep.
Reported: the lag correlation of each (pooled over chains, each about its own mean, with
the sweep choice's bias correction: :func:`bayesgen.samplers.mixing.lag_correlations`) at 1,
2, 4, ..., 32 sweeps, the fewest sweeps in that list with every statistic of the model at
most exchange's target (0.05), the time per sweep of the whole batch (after compilation,
the fastest of --reps runs), and their product: the cost of one decorrelated draw.
Measured in one run on one machine.

Prints a markdown table and writes JSON atomically to
benchmarks/results/cluster_kernel.json.

    python benchmarks/cluster_kernel.py [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, parse_args

LAGS = (1, 2, 4, 8, 16, 32)
CASES = [  # name, shape, beta, chains, whether the model has a field (M is a statistic)
    ("16x16, beta 0.40, field, 100 lattices", (16, 16), 0.40, 100, True),
    ("32x32, beta 0.42, zero field, 32 chains", (32, 32), 0.42, 32, False),
]


def main() -> None:
    args = parse_args(__doc__, "cluster_kernel", reps=3, x64=True)
    import bayesgen as bg
    from bayesgen.samplers import checkerboard
    from bayesgen.samplers.mixing import lag_correlations

    target = bg.bayesian.Exchange().max_lag_correlation

    sweeps = 200
    rows = []
    print(
        "| case | kernel | ms / sweep | corr. bond sum at 1, 2, 4, 8, 16, 32 | corr. M |"
        " sweeps to 0.05 | ms per decorrelated draw |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, shape, beta, chains, field in CASES:
        params = {"beta": beta, "h": 0.0}
        start = checkerboard.sample(
            jax.random.key(0), beta, 0.0, shape, num_chains=chains, burn_in=3000
        )[:, 0]
        for kernel in ("gibbs", "swendsen_wang"):
            model = bg.models.Ising(shape, kernel=kernel)

            @jax.jit
            def trace(key, xs, model=model, params=params):
                def body(xs, k_sweep):
                    xs = model.mcmc_run(k_sweep, params, xs, 1)
                    t = jax.vmap(bg.models.Ising.sufficient_statistics)(xs)
                    return xs, jnp.concatenate([t, jnp.abs(t[:, 1:])], axis=1)

                return jax.lax.scan(body, xs, jax.random.split(key, sweeps))[1]

            jax.block_until_ready(trace(jax.random.key(1), start))
            times = []
            for r in range(args.reps):
                t0 = time.perf_counter()
                series = np.asarray(jax.block_until_ready(trace(jax.random.key(2 + r), start)))
                times.append(time.perf_counter() - t0)
            ms = 1e3 * min(times) / sweeps
            # each statistic's correlation at every lag, bias-corrected as the sweep choice's
            profiles = [lag_correlations(series[..., j : j + 1], max(LAGS)) for j in range(3)]
            corr = [[float(p[k - 1]) for k in LAGS] for p in profiles]
            watched = corr[:2] if field else corr[:1]
            enough = [k for i, k in enumerate(LAGS) if all(c[i] <= target for c in watched)]
            to_target = enough[0] if enough else None
            rows.append(
                {
                    "case": name,
                    "kernel": model.mcmc_kernel,
                    "ms_per_sweep": ms,
                    "lags": list(LAGS),
                    "bond_sum_correlation": corr[0],
                    "magnetisation_correlation": corr[1],
                    "abs_magnetisation_correlation": corr[2],
                    "sweeps_to_0.05": to_target,
                    "ms_per_decorrelated_draw": None if to_target is None else ms * to_target,
                }
            )
            fmt = ", ".join
            print(
                f"| {name} | {model.mcmc_kernel} | {ms:.2f} | {fmt(f'{c:.2f}' for c in corr[0])}"
                f" | {fmt(f'{c:.2f}' for c in corr[1])} | {to_target or '> 32'} | "
                f"{'-' if to_target is None else f'{ms * to_target:.1f}'} |"
            )
    from bayesgen._io import atomic_write_json

    atomic_write_json(args.out, {**environment("cluster_kernel", "float64"), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
