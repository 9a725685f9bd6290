"""What does a vmapped replicate study cost against one fit?

For Ising 4 x 4 (n = 500), after compilation, as the median of --reps repetitions: one
``bg.fit`` (its run seconds) against ``fit_replicates`` on 200 simulated datasets (one
vmapped, jitted computation), per estimator. Target: the 200-replicate study costs less
than 10 times one fit. Then the posterior side: one ``bg.sample_posterior`` (4 chains,
500 warm-up + 500 draws; run seconds) against ``sample_replicates`` on 50 datasets (200
with --full), every chain of every replicate in one computation; "vs loop" is the study
against that many single runs one after another. Prints a markdown table and writes JSON
atomically to benchmarks/results/study_cost.json.

    python benchmarks/study_cost.py [--full] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import jax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="1,000 replicates as well")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--platform", choices=["cpu", "gpu", "tpu"])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "study_cost.json"))
    args = parser.parse_args()
    if args.platform:
        jax.config.update("jax_platforms", args.platform)
    jax.config.update("jax_enable_x64", True)

    from _common import environment

    import bayesgen as bg
    from bayesgen._io import atomic_write_json
    from bayesgen.frequentist import driver

    model = bg.models.Ising((4, 4))
    truth = model.check_params({"beta": 0.3, "h": 0.05})
    sizes = (200, 1000) if args.full else (200,)
    rows = []
    for method in ("exact_mle", "pseudo_likelihood"):
        data = model.sample(jax.random.key(0), truth, 500)
        one = [bg.fit(model, data, method, progress=False) for _ in range(args.reps + 1)][1:]
        one_s = statistics.median(r.timing["run_s"] for r in one)
        for r in sizes:
            datasets = driver._simulate(model, truth, 500, jax.random.split(jax.random.key(1), r))
            times = []
            for i in range(args.reps + 1):  # the first call compiles
                t0 = time.perf_counter()
                out = driver.fit_replicates(model, datasets, method, key=jax.random.key(i))
                jax.block_until_ready(out.params)
                times.append(time.perf_counter() - t0)
            study_s = statistics.median(times[1:])
            rows.append(
                {
                    "method": method,
                    "replicates": r,
                    "one_fit_s": one_s,
                    "study_s": study_s,
                    "ratio": study_s / one_s,
                    "vs_loop": study_s / (r * one_s),
                }
            )
    from bayesgen.bayesian import driver as bayes_driver

    posterior_sizes = (50, 200) if args.full else (50,)
    for method in ("nuts", "exchange"):
        data = model.sample(jax.random.key(0), truth, 500)
        settings = dict(num_warmup=500, num_samples=500, num_chains=4)
        one = [
            bg.sample_posterior(model, data, method, key=jax.random.key(i), **settings)
            for i in range(args.reps + 1)
        ][1:]
        one_s = statistics.median(r.timing["run_s"] for r in one)
        for r in posterior_sizes:
            datasets = driver._simulate(model, truth, 500, jax.random.split(jax.random.key(1), r))
            times = []
            for i in range(args.reps + 1):  # the first call compiles (timed apart inside)
                out = bayes_driver.sample_replicates(
                    model, datasets, method, key=jax.random.key(i), **settings
                )
                times.append(out.timing["run_s"])
            study_s = statistics.median(times[1:])
            rows.append(
                {
                    "method": method,
                    "replicates": r,
                    "one_fit_s": one_s,
                    "study_s": study_s,
                    "ratio": study_s / one_s,
                    "vs_loop": study_s / (r * one_s),
                }
            )
    print(
        f"\nreplicate study cost ({jax.devices()[0]}, float64, jax {jax.__version__}, "
        f"median of {args.reps})\n"
    )
    print(
        "| method | replicates | one fit / run s | study s | ratio (target < 10 at 200) | vs loop |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        loop = f"{r['vs_loop']:.3f}"
        print(
            f"| {r['method']} | {r['replicates']} | {r['one_fit_s']:.4f} | "
            f"{r['study_s']:.4f} | {r['ratio']:.2f} | {loop} |"
        )
    atomic_write_json(
        args.out,
        {
            **environment("study_cost", "float64"),
            "reps": args.reps,
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
