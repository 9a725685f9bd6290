"""One large lattice (n = 1): every method against Kaufman's exact MLE and exact posterior.

The zero-field Ising model on 32 x 32 and 64 x 64 (--full adds 128 x 128), one lattice each
drawn by 3,000 Gibbs sweeps at β = 0.42 (near the critical 0.4407), float64. Frequentist
rows: the estimate, its default standard error (the observed information for likelihoods,
the parametric bootstrap for the others), the distance to the exact MLE in those standard
errors, seconds (compile and run, bootstrap included), the verdict and its reason. Bayesian
rows (at their defaults: 1,000 + 1,000 draws, 4 chains): the posterior mean and sd against
NUTS on the exact posterior, the max R-hat, the smallest bulk ESS, seconds, the verdict.

Prints a markdown table per lattice and writes JSON atomically to
benchmarks/results/one_lattice.json.

    python benchmarks/one_lattice.py [--full] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import time

import jax
import numpy as np
from _common import environment, parse_args

BETA = 0.42
FREQUENTIST = (
    "exact_mle",
    "pseudo_likelihood",
    "mcmle",
    "contrastive_divergence",
    "conditional_nce",
    "nce",
)
BAYESIAN = ("nuts", "exchange", "pseudo_posterior")


def main() -> None:
    args = parse_args(__doc__, "one_lattice", full="add 128 x 128", reps=False, x64=True)
    import bayesgen as bg
    from bayesgen._io import atomic_write_json

    sides = (32, 64, 128) if args.full else (32, 64)
    cases = []
    for side in sides:
        model = bg.models.Ising((side, side), field=False)
        x = model.sample(jax.random.key(0), {"beta": BETA}, 1, num_sweeps=3000)
        rows = []
        for i, method in enumerate(FREQUENTIST + BAYESIAN):
            t0 = time.perf_counter()
            if method in FREQUENTIST:
                r = bg.fit(model, x, method, key=jax.random.key(i))
                row = {
                    "estimate": float(r.params["beta"]),
                    "se": float(r.stderr["beta"]),
                    "uncertainty": r.uncertainty,
                }
            else:
                r = bg.sample_posterior(model, x, method, key=jax.random.key(i))
                d = r.diagnostics()["beta"]
                row = {
                    "estimate": float(r.mean()["beta"]),
                    "se": float(np.std(r.samples["beta"])),
                    "r_hat": d["r_hat"],
                    "ess_bulk": d["ess_bulk"],
                }
            row.update(method=method, seconds=time.perf_counter() - t0, ok=r.ok, why=r.why)
            rows.append(row)
            print(f"  {side}x{side} {method}: {row['seconds']:.1f} s", flush=True)
        mle, ref = rows[0], rows[len(FREQUENTIST)]
        for row in rows:
            row["z vs exact MLE"] = (row["estimate"] - mle["estimate"]) / row["se"]
            row["sd / NUTS sd"] = row["se"] / ref["se"] if "r_hat" in row else None
        cases.append({"lattice": f"{side}x{side}", "beta": BETA, "n": 1, "rows": rows})
        print(f"\n{side} x {side}, one lattice at beta = {BETA}\n")
        print("| method | estimate | SE or sd | (est - MLE)/SE | sd / NUTS | s | ok | why |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            ratio = "" if row["sd / NUTS sd"] is None else f"{row['sd / NUTS sd']:.3f}"
            print(
                f"| {row['method']} | {row['estimate']:.4f} | {row['se']:.4f} | "
                f"{row['z vs exact MLE']:+.2f} | {ratio} | {row['seconds']:.1f} | "
                f"{'yes' if row['ok'] else 'NO'} | {row['why'][:90]} |"
            )
    atomic_write_json(args.out, {**environment("one_lattice", "float64"), "cases": cases})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
