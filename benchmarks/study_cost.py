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

import statistics
import time

import jax
from _common import environment, parse_args


def main() -> None:
    args = parse_args(__doc__, "study_cost", full="1,000 replicates as well", x64=True)

    import bayesgen as bg
    from bayesgen._io import atomic_write_json
    from bayesgen.frequentist import driver

    model = bg.models.Ising((4, 4))
    truth = model.check_params({"beta": 0.3, "h": 0.05})
    from bayesgen.bayesian import driver as bayes_driver

    settings = dict(num_warmup=500, num_samples=500, num_chains=4)
    data = model.sample(jax.random.key(0), truth, 500)

    def fit_s(method, i):
        return bg.fit(model, data, method, key=jax.random.key(i), progress=False).timing["run_s"]

    def fit_study_s(method, datasets, i):
        t0 = time.perf_counter()
        out = driver.fit_replicates(model, datasets, method, key=jax.random.key(i))
        jax.block_until_ready(out.params)
        return time.perf_counter() - t0

    def posterior_s(method, i):
        result = bg.sample_posterior(model, data, method, key=jax.random.key(i), **settings)
        return result.timing["run_s"]

    def posterior_study_s(method, datasets, i):  # compilation is timed apart inside
        key = jax.random.key(i)
        return bayes_driver.sample_replicates(model, datasets, method, key=key, **settings).timing[
            "run_s"
        ]

    fit_sizes = (200, 1000) if args.full else (200,)
    posterior_sizes = (50, 200) if args.full else (50,)
    cases = [(m, fit_s, fit_study_s, fit_sizes) for m in ("exact_mle", "pseudo_likelihood")]
    cases += [(m, posterior_s, posterior_study_s, posterior_sizes) for m in ("nuts", "exchange")]
    rows = []
    for method, one_run, study_run, sizes in cases:
        one_run(method, 0)  # the first call compiles
        one_s = statistics.median(one_run(method, i) for i in range(1, args.reps + 1))
        for r in sizes:
            datasets = driver._simulate(model, truth, 500, jax.random.split(jax.random.key(1), r))
            study_run(method, datasets, 0)
            study_s = statistics.median(
                study_run(method, datasets, i) for i in range(1, args.reps + 1)
            )
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
