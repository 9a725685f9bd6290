"""Coverage at scale: do 95% intervals cover the truth on lattices where Z is out of reach?

The zero-field Ising model (β = 0.4, below the critical 0.4407) on 16 x 16 and 32 x 32,
n = 1 and n = 10 lattices per dataset, 100 replicate datasets per cell, each simulated by
1,000 checkerboard Gibbs sweeps from a uniform start. Every method that applies without
Kaufman's log Z (pseudo-likelihood with its n = 1 bootstrap standard error, MCMLE with its
observed information, exchange, the adjusted pseudo-posterior) beside the two that use
it (exact MLE and NUTS on the exact posterior): coverage of the truth with its binomial
standard error and the exact binomial test of coverage = 0.95, bias, RMSE, mean width, how
many replicates had R-hat > 1.01, and seconds (:func:`bayesgen.coverage_study`).

Posterior methods run 4 chains of 1,000 + 1,000 draws per replicate (sample_posterior's
defaults, so that the R-hat column is the verdict a user would get; --warmup, --draws);
pseudo-likelihood's bootstrap refits each replicate on 100 datasets simulated at its
estimate. Each method of each cell is written at once (atomically) to the results JSON
as it finishes, and a rerun skips the methods already there; within a method, every
``--chunk`` replicates (default 10) are written to ``results/coverage_at_scale/CELL/``,
so an interrupted run loses at most one chunk (``bg.coverage_study(out=..., chunk_size=...)``).
``--cells 16x1,32x1`` restricts the run; ``--replicates`` changes the count.

    python benchmarks/coverage_at_scale.py [--cells 16x1,16x10,32x1,32x10] [--replicates 100]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import pandas as pd
from _common import RESULTS, environment

BETA = 0.4
METHODS = ("exact_mle", "pseudo_likelihood", "mcmle", "nuts", "exchange", "pseudo_posterior")
CELLS = ("16x1", "16x10", "32x1", "32x10")
COLUMNS = ("method", "coverage", "coverage se", "binomial p", "bias", "rmse", "mean width")
VERDICTS = ("replicates ok", "coverage if ok", "why")  # each replicate's own verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", default=str(RESULTS / "coverage_at_scale.json"))
    parser.add_argument("--chunk", type=int, default=10, help="replicates per checkpoint")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    import bayesgen as bg
    from bayesgen._io import atomic_write_json

    out = Path(args.out)
    done = json.loads(out.read_text())["cells"] if out.exists() else {}
    for cell in args.cells.split(","):
        side, n = (int(v) for v in cell.split("x"))
        model = bg.models.Ising((side, side), field=False)
        entry = done.get(cell)
        if entry is None or entry["replicates"] != args.replicates:
            entry = {"side": side, "n": n, "replicates": args.replicates, "rows": []}
            entry["seconds"], entry["skipped"] = 0.0, {}
        for method in args.methods.split(","):
            if method in entry["skipped"] or any(r["method"] == method for r in entry["rows"]):
                print(f"{cell} {method}: done already ({out})")  # resume
                continue
            t0 = time.perf_counter()
            # One method per call: the datasets depend only on the key, n and replicates,
            # so every method of a cell sees the same 100 datasets. Each finished method is
            # a row of the results JSON, and within a method every --chunk replicates are
            # a checkpoint under results/coverage_at_scale/CELL/ (exchange on 32 x 32,
            # n = 10, takes hours): a rerun reads them back.
            study = bg.coverage_study(
                model,
                {"beta": BETA},
                [method],
                n=n,
                replicates=args.replicates,
                key=jax.random.key(side * 100 + n),
                num_warmup=args.warmup,
                num_samples=args.draws,
                num_bootstrap=100,
                out=out.with_suffix("") / cell,
                chunk_size=args.chunk,
            )
            seconds = time.perf_counter() - t0
            print(f"  {cell} {method}: {seconds:.0f} s", flush=True)
            entry["seconds"] += seconds
            entry["skipped"].update(study.skipped)
            entry["rows"] += json.loads(study.table.to_json(orient="records"))
            done[cell] = entry
            atomic_write_json(
                out, {**environment("coverage_at_scale", "float64"), "beta": BETA, "cells": done}
            )
        table = pd.DataFrame(entry["rows"])
        print(f"\n{side} x {side}, n = {n}, {args.replicates} replicates, β = {BETA}")
        shown = [c for c in (*COLUMNS, *VERDICTS, "seconds") if c in table]  # 16x1: no verdicts
        print(table[shown].to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
