"""Compile time of every method, and a check that a second dataset does not recompile.

For Ising 4 x 4 (n = 500, float64): ``bg.compare`` with every applicable method of both
sides on one simulated dataset, then on a second dataset of the same shape, in the same
process. For each method, the compile seconds of the first run, the compile seconds of the
second (near zero if the compiled program was reused), and the run seconds. A method
"recompiled" when its second compile took more than a tenth of its first and more than
50 ms. Prints a markdown table and writes JSON atomically to
benchmarks/results/compile_times.json.

    python benchmarks/compile_times.py [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import jax
from _common import environment, parse_args


def main() -> None:
    args = parse_args(__doc__, "compile_times", reps=False, x64=True)

    import bayesgen as bg
    from bayesgen._io import atomic_write_json

    model = bg.models.Ising((4, 4))
    truth = {"beta": 0.3, "h": 0.05}
    settings = dict(num_warmup=300, num_samples=300, num_chains=4, truth=truth)
    tables = []
    for i in range(2):
        data = model.sample(jax.random.key(10 + i), truth, 500)
        cmp = bg.compare(model, data, key=jax.random.key(20 + i), **settings)
        tables.append(cmp.table.set_index("method"))
    first, second = tables
    rows = []
    for method in first.index:
        c1, c2 = float(first.loc[method, "compile s"]), float(second.loc[method, "compile s"])
        rows.append(
            {
                "method": method,
                "side": first.loc[method, "side"],
                "compile_s": c1,
                "second_dataset_compile_s": c2,
                "run_s": float(second.loc[method, "run s"]),
                "recompiled": bool(c2 > 0.1 * c1 and c2 > 0.05),
            }
        )
    print(f"\ncompile time per method, Ising 4 x 4, n = 500 ({jax.devices()[0]}, float64)\n")
    print("| method | side | compile s | second dataset: compile s | run s | recompiled |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['side']} | {r['compile_s']:.2f} | "
            f"{r['second_dataset_compile_s']:.3f} | {r['run_s']:.2f} | "
            f"{'YES' if r['recompiled'] else 'no'} |"
        )
    atomic_write_json(args.out, {**environment("compile_times", "float64"), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
