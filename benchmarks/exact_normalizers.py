"""Exact normalisers: what log Z and its gradient cost as the Ising lattice grows.

For square periodic lattices, each exact strategy that applies: enumeration (up to 20
spins by the density of states, tabulated once per model; up to 25 by summing every
configuration) and the transfer matrix (its momentum sectors' eigenvalues, every width up
to 12). Measured: the first call's compile seconds and, after it, the median of --reps
calls of ``jit(value_and_grad(log Z))`` at β = 0.3, h = 0.05 in float64; every strategy's
value is checked against the others on the same lattice. The result names the largest
square lattice whose exact log Z with its gradient takes under one second.

    python benchmarks/exact_normalizers.py [--reps 5] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import statistics
import time

import jax
from _common import environment, parse_args

PARAMS = {"beta": 0.3, "h": 0.05}


def main() -> None:
    args = parse_args(__doc__, "exact_normalizers", x64=True)
    import jax.numpy as jnp

    import bayesgen as bg
    from bayesgen._io import atomic_write_json
    from bayesgen.errors import BayesgenError

    params = {k: jnp.asarray(v) for k, v in PARAMS.items()}
    rows = []
    for side in range(2, 13):
        values = {}
        for strategy in ("enumeration", "transfer_matrix"):
            try:
                model = bg.models.Ising((side, side), normalizer=strategy)
            except BayesgenError:
                continue
            fn = jax.jit(jax.value_and_grad(model.log_normalizer))
            t0 = time.perf_counter()
            value, _ = jax.block_until_ready(fn(params))  # tabulates, traces and compiles
            first_s = time.perf_counter() - t0
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(params))
                times.append(time.perf_counter() - t0)
            if strategy == "enumeration":
                how = "enumeration" + (" (density of states)" if side * side <= 20 else "")
            else:
                how = "transfer matrix (momentum sectors)"
            values[strategy] = float(value)
            rows.append(
                {
                    "lattice": f"{side}x{side}",
                    "sites": side * side,
                    "strategy": how,
                    "log_z": float(value),
                    "first_call_s": first_s,
                    "seconds": statistics.median(times),
                }
            )
            print(f"{side}x{side} {how}: {rows[-1]['seconds']:.2e} s", flush=True)
        if len(values) == 2:
            diff = abs(values["enumeration"] - values["transfer_matrix"])
            assert diff < 1e-9 * abs(values["enumeration"]), (side, values)
    under = [r for r in rows if r["seconds"] < 1.0]
    largest = max(under, key=lambda r: r["sites"])
    print(
        f"\nexact log Z with its gradient, Ising L x L ({jax.devices()[0]}, float64, "
        f"median of {args.reps})\n"
    )
    print("| lattice | strategy | log Z | first call s | s per call |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['lattice']} | {r['strategy']} | {r['log_z']:.6f} | "
            f"{r['first_call_s']:.3f} | {r['seconds']:.2e} |"
        )
    print(f"\nlargest lattice under one second: {largest['lattice']} ({largest['strategy']})")
    atomic_write_json(
        args.out,
        {
            **environment("exact_normalizers", "float64"),
            "params": PARAMS,
            "reps": args.reps,
            "rows": rows,
            "largest_under_1s": largest,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
