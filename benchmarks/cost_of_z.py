"""What does each way around the normaliser cost, for what accuracy? The headline table.

For each model (quick: Ising 4 x 4 and the 2-D Gaussian reference, n = 500; --full adds
Ising 8 x 8 with a field, n = 500, where log Z is exact by transfer matrix, and the
zero-field lattices where Z is out of reach for every method but Kaufman's closed form:
16 x 16 with n = 100, and one lattice, n = 1, of 32 x 32 and of 64 x 64 at β = 0.42), data
from known parameters, float64, every method of both sides that applies to the model, on
its defaults:

* frequentist rows: accuracy is the parameter RMSE against the truth over 100 datasets
  (200 with --full; 100, 50 and 20 on the zero-field lattices; one vmapped
  ``fit_replicates`` per method; root mean square over replicates and
  parameter components, a symmetric matrix counted once per distinct entry); cost is one
  ``bg.fit``'s run seconds (after compilation, median of --reps fits on new datasets of
  the same shape) and its optimiser steps (deterministic fits stop at the gradient
  tolerance; "converged": fits whose verdict is ok, every check passed: the gradient norm
  met the tolerance, or, for contrastive divergence, the loss had levelled off, and the
  estimator's own checks). "s to RMSE 0.01" is the time one fit would take to reach
  RMSE 0.01 if n were scaled to get there: seconds x (RMSE / 0.01)^2, which assumes the
  cost grows in proportion to n and the error as n^-1/2;
* Bayesian rows: bulk ESS (the smallest over parameters) per second of
  ``bg.sample_posterior`` (4 chains; run seconds plus any calibration, after compilation,
  median of --reps runs on new datasets) and per 1,000 gradient evaluations (NUTS-based
  methods: leapfrog steps while sampling) or auxiliary datasets (exchange: one per
  step, ``info["thinning"]`` steps per draw); "converged": runs whose verdict is ok
  (R-hat under 1.01, ESS at least 100 per chain, no divergences); the RMSE of the
  posterior mean over the same --reps datasets (few, so only a rough check that the
  posterior sits at the truth: coverage is ``bayesgen study``'s). --full leaves out NUTS
  and exchange on 8 x 8 (``SKIPPED`` says why).

Prints a markdown table per model and writes JSON atomically to
benchmarks/results/cost_of_z.json after every method (a --full run took 1.7 hours of method
time on one CPU core, besides simulating the datasets, most of it exchange and MCMLE on
the large lattices); a rerun with the
same --reps reuses the methods the file has already. A method that does not apply to a
case's data (generalised Bayes calibrates its weight from n > 1 data) is a "not run" row
with the reason.

    python benchmarks/cost_of_z.py [--full] [--reps 5] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import jax
import numpy as np
from _common import environment, parse_args

EPSILON = 0.01  # the fixed accuracy of the "s to RMSE" column
# Rows --full leaves out, and why (measured on this CPU): they would take most of an hour.
SKIPPED = {
    ("ising 8x8", "nuts"): "about 18 ms per gradient of the transfer-matrix log Z, x 20,000 "
    "gradients a run: 35 min for 6 runs",
    ("ising 8x8", "exchange"): "an exact transfer-matrix draw of 500 lattices per iteration",
}


def _components(model, params) -> np.ndarray:
    """The distinct parameter components, with a leading batch axis: ``(batch, k)``."""
    out = []
    for spec in model.params_spec:
        v = np.asarray(params[spec.name])
        v = v.reshape(-1, *spec.shape) if spec.shape else v.reshape(-1)
        if len(spec.shape) == 2 and spec.shape[0] == spec.shape[1]:
            i, j = np.triu_indices(spec.shape[0])
            v = v[:, i, j]
        out.append(v.reshape(v.shape[0], -1))
    return np.concatenate(out, axis=1)


def _cases(full: bool):
    """``(label, model, truth, n, frequentist replicates)`` per case."""
    import jax.numpy as jnp

    import bayesgen as bg

    gaussian = {"mu": jnp.array([0.5, -1.0]), "precision": jnp.array([[2.0, 0.6], [0.6, 1.0]])}
    replicates = 200 if full else 100
    cases = [("ising 4x4", bg.models.Ising((4, 4)), {"beta": 0.3, "h": 0.05}, 500, replicates)]
    if full:
        # Where Z is out of reach: zero-field lattices, whose exact log Z (Kaufman) makes
        # exact MLE and NUTS the references at every size; one lattice (n = 1) from 32 x 32
        # on, fewer replicates where each fit is a large lattice.
        zero_field = bg.models.Ising
        cases += [
            ("ising 8x8", bg.models.Ising((8, 8)), {"beta": 0.3, "h": 0.05}, 500, replicates),
            ("ising 16x16", zero_field((16, 16), field=False), {"beta": 0.4}, 100, 100),
            ("ising 32x32, n = 1", zero_field((32, 32), field=False), {"beta": 0.42}, 1, 50),
            ("ising 64x64, n = 1", zero_field((64, 64), field=False), {"beta": 0.42}, 1, 20),
        ]
    cases.append(("gaussian 2-d", bg.models.Gaussian(2), gaussian, 500, replicates))
    return cases


def main() -> None:
    args = parse_args(__doc__, "cost_of_z", full="Ising 8x8 and 16x16 too, longer chains", x64=True)
    import bayesgen as bg
    from bayesgen._io import atomic_write_json
    from bayesgen.evaluation.compare import _side, applicable_methods

    draws = 500 if args.full else 300
    chains = 4
    results = []
    previous = {}  # a rerun reuses the cases and methods already measured with these settings
    if Path(args.out).exists():
        old = json.loads(Path(args.out).read_text())
        if (old.get("reps"), old.get("draws")) == (args.reps, draws):
            previous = {(c["model"], c["n"], c.get("replicates")): c for c in old["cases"]}
    for label, model, truth, n, replicates in _cases(args.full):
        case = previous.get((label, n, replicates))
        if case is not None and case.get("complete", True):
            print(f"  {label}: measured already ({args.out})", flush=True)
            results.append(case)
            continue
        done = {r["method"]: r for r in case["rows"]} if case is not None else {}
        case = {"model": label, "repr": repr(model), "n": n, "replicates": replicates}
        results.append({**case, "rows": [], "complete": False})
        truth = model.check_params(truth)
        true_vec = _components(model, truth)[0]
        # dataset 0 compiles; 1..reps are timed, each new data of the same shape
        datasets = model.sample_datasets(
            jax.random.split(jax.random.key(7), args.reps + 1), truth, n
        )
        # the frequentist replicates, simulated once per model (Gibbs on 16 x 16: minutes)
        study = model.sample_datasets(jax.random.split(jax.random.key(8), replicates), truth, n)
        rows = results[-1]["rows"]
        for method in applicable_methods(model):
            side, t_method = _side(method), time.perf_counter()
            if method in done:
                print(f"  {label}: {method} measured already ({args.out})", flush=True)
                rows.append(done[method])
                continue
            if (label, method) in SKIPPED:
                rows.append({"method": method, "side": side, "skipped": SKIPPED[label, method]})
                continue
            measure = _frequentist_row if side == "frequentist" else _bayesian_row
            try:
                row = measure(model, method, datasets, study, true_vec, args.reps, chains, draws)
            except bg.MethodError as err:  # e.g. a calibration that needs n > 1
                rows.append({"method": method, "side": side, "skipped": str(err).split(";")[0]})
                print(f"  {label}: {method} does not apply: {err}", flush=True)
                continue
            rows.append({"method": method, "side": side, **row})
            took = time.perf_counter() - t_method
            rows[-1]["benchmark_s"] = took
            shown = {k: v for k, v in rows[-1].items() if k not in ("method", "side", "normalizer")}
            print(f"  {label}: {method} done in {took:.0f} s: {shown}", flush=True)
            atomic_write_json(args.out, _report(args, results, chains, draws))  # each method
        results[-1]["complete"] = True
        atomic_write_json(args.out, _report(args, results, chains, draws))

    print(
        f"\nthe cost of each way around Z ({jax.devices()[0]}, float64, jax {jax.__version__}, "
        f"median of {args.reps}; Bayesian {chains} chains x {draws} + {draws})"
    )
    for case in results:
        print(
            f"\n{case['model']}, n = {case['n']}; frequentist RMSE over {case['replicates']} "
            "replicates\n"
        )
        print(
            "| method | side | Z | RMSE | s per run | steps | s to RMSE 0.01 "
            "| ESS/s | ESS per 1k evals | converged |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in case["rows"]:
            if "skipped" in r:
                print(f"| {r['method']} | {r['side'][:4]}. | not run: {r['skipped']} |||||||")
                continue
            if r["side"] == "frequentist":
                cost = f"{r['steps']:.0f} | {r['s_to_rmse']:.3g} | |"
            else:
                unit = "grad" if r["eval"] == "gradient" else "aux"
                cost = f" | | {r['ess_per_s']:.4g} | {r['ess_per_1k_evals']:.3g} ({unit})"
            print(
                f"| {r['method']} | {r['side'][:4]}. | {r['normalizer'].split(':')[0]} | "
                f"{r['rmse']:.4f} | {r['run_s']:.4g} | {cost} | {r['converged']}/{args.reps} |"
            )
    print(f"wrote {args.out}")


def _frequentist_row(model, method, datasets, study, true_vec, reps, chains, draws) -> dict:
    """One ``bg.fit`` per dataset (the first compiles; the median of the rest is timed) and
    the RMSE of a vmapped replicate study."""
    import bayesgen as bg
    from bayesgen.frequentist import driver

    runs = [
        bg.fit(model, d, method, key=jax.random.key(i), progress=False, uncertainty="none")
        for i, d in enumerate(datasets[: reps + 1])
    ]
    seconds = statistics.median(r.timing["run_s"] for r in runs[1:])
    replicates = driver.fit_replicates(model, study, method, key=jax.random.key(9))
    ok = np.asarray(replicates.failed_step) < 0
    err = _components(model, replicates.params)[ok] - true_vec
    rmse = float(np.sqrt(np.mean(err**2)))
    return {
        "normalizer": runs[-1].normalizer,
        "rmse": rmse,
        "replicates": int(ok.sum()),
        "run_s": seconds,
        "steps": statistics.median(len(r.loss_trace) for r in runs[1:]),
        "converged": sum(bool(r.ok) for r in runs[1:]),
        "s_to_rmse": seconds * (rmse / EPSILON) ** 2,
    }


def _bayesian_row(model, method, datasets, study, true_vec, reps, chains, draws) -> dict:
    """One ``bg.sample_posterior`` per dataset (the first compiles): medians of ESS, ESS per
    second and per 1,000 evaluations over the rest, and the RMSE of their posterior means."""
    import bayesgen as bg

    ess, per_s, per_k, errors, converged, seconds = [], [], [], [], 0, []
    for i, d in enumerate(datasets[: reps + 1]):
        r = bg.sample_posterior(
            model,
            d,
            method,
            key=jax.random.key(i),
            num_warmup=draws,
            num_samples=draws,
            num_chains=chains,
            progress=False,
        )
        if i == 0:
            continue
        diag = r.diagnostics()
        converged += r.ok
        e = min(v["ess_bulk"] for v in diag.values() if isinstance(v, dict))
        s = r.timing["run_s"] + r.timing.get("prepare_s", 0.0)
        steps = r.sample_stats.get("num_steps")
        # exchange: one auxiliary dataset per step, info["thinning"] steps per draw
        per_draw = int(r.info.get("thinning", 1))
        evals = np.sum(steps) if steps is not None else chains * draws * per_draw
        seconds.append(s)
        ess.append(e)
        per_s.append(e / s)
        per_k.append(1000 * e / evals)
        mean = {k: v.mean(axis=(0, 1)) for k, v in r.samples.items()}
        errors.append(_components(model, mean)[0] - true_vec)
    return {
        "normalizer": r.normalizer,
        "rmse": float(np.sqrt(np.mean(np.square(errors)))),
        "replicates": reps,
        "run_s": statistics.median(seconds),
        "ess": statistics.median(ess),
        "converged": converged,
        "ess_per_s": statistics.median(per_s),
        "ess_per_1k_evals": statistics.median(per_k),
        "eval": "gradient" if steps is not None else "auxiliary dataset",
    }


def _report(args, results, chains, draws) -> dict:
    return {
        **environment("cost_of_z", "float64"),
        "reps": args.reps,
        "epsilon": EPSILON,
        "chains": chains,
        "warmup": draws,
        "draws": draws,
        "cases": results,
    }


if __name__ == "__main__":
    main()
