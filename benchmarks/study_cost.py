"""What does a replicate study cost, vmapped, against the same fits in a Python loop?

For Ising 4 x 4 (n = 500), float64, after compilation: ``fit_replicates`` on R simulated
datasets as one vmapped, jitted computation (median of --reps studies), against a Python
loop of ``bg.fit`` calls on the same datasets (each call's whole wall time, standard
errors included, as ``coverage_study`` would pay them; the loop's mean call, times R), for
R = 1, 10, 100 and 1,000; then the posterior side, ``sample_replicates`` (4 chains, 500
warm-up + 500 draws per replicate, every chain of every replicate in one computation)
against a loop of ``bg.sample_posterior``, for R = 1 and 10 (100 and 1,000 with --full).
The loop is run once over 100 datasets on the frequentist side (10 on the posterior side,
100 with --full) and its mean call scaled to each R. "ratio to one" is the study against
one call (target from the evaluation issue: under 10 at 200 replicates). Prints a markdown
table and writes JSON atomically to benchmarks/results/study_cost.json.

    python benchmarks/study_cost.py [--full] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import statistics
import time

import jax
from _common import environment, parse_args


def _wall(fn, *args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def main() -> None:
    args = parse_args(__doc__, "study_cost", full="posterior studies up to 1,000", x64=True)

    import bayesgen as bg
    from bayesgen._io import atomic_write_json
    from bayesgen.bayesian import driver as bayes_driver
    from bayesgen.frequentist import driver

    model = bg.models.Ising((4, 4))
    truth = model.check_params({"beta": 0.3, "h": 0.05})
    settings = dict(num_warmup=500, num_samples=500, num_chains=4)
    n = 500

    def one_fit(method, data, key):
        return bg.fit(model, data, method, key=key, progress=False).params

    def fit_study(method, datasets, key):
        return driver.fit_replicates(model, datasets, method, key=key).params

    def one_posterior(method, data, key):
        return bg.sample_posterior(model, data, method, key=key, progress=False, **settings).samples

    def posterior_study(method, datasets, key):
        return bayes_driver.sample_replicates(model, datasets, method, key=key, **settings).samples

    freq_sizes = (1, 10, 100, 200, 1000)
    post_sizes = (1, 10, 100, 1000) if args.full else (1, 10)
    cases = [(m, one_fit, fit_study, freq_sizes, 100) for m in ("exact_mle", "pseudo_likelihood")]
    loop_post = 100 if args.full else 10
    cases += [
        (m, one_posterior, posterior_study, post_sizes, loop_post) for m in ("nuts", "exchange")
    ]
    rows = []
    for method, one, study, sizes, loop_len in cases:
        pool = model.sample_datasets(jax.random.split(jax.random.key(1), max(sizes)), truth, n)
        one(method, pool[0], jax.random.key(0))  # compiles
        calls = [_wall(one, method, pool[i], jax.random.key(i)) for i in range(loop_len)]
        per_call = statistics.fmean(calls)
        for r in sizes:
            datasets = pool[:r]
            study(method, datasets, jax.random.key(0))  # compiles for this R
            study_s = statistics.median(
                _wall(study, method, datasets, jax.random.key(i)) for i in range(1, args.reps + 1)
            )
            rows.append(
                {
                    "method": method,
                    "replicates": r,
                    "one_call_s": per_call,
                    "loop_calls_timed": loop_len,
                    "loop_s": r * per_call,
                    "study_s": study_s,
                    "ratio_to_one": study_s / per_call,
                    "speedup": r * per_call / study_s,
                }
            )
            print(f"  {method} x {r}: study {study_s:.3g} s", flush=True)
    print(
        f"\nreplicate studies, vmapped against a loop ({jax.devices()[0]}, float64, "
        f"jax {jax.__version__}, median of {args.reps})\n"
    )
    print("| method | replicates | one call s | loop s | study s | ratio to one | loop / study |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['replicates']} | {r['one_call_s']:.4f} | {r['loop_s']:.4g} | "
            f"{r['study_s']:.4g} | {r['ratio_to_one']:.2f} | {r['speedup']:.2f} |"
        )
    atomic_write_json(
        args.out, {**environment("study_cost", "float64"), "reps": args.reps, "rows": rows}
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
