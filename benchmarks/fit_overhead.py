"""How much does bg.fit cost over a hand-written optax loop on the same objective?

Measured in one run, after compilation, as the median of --reps repetitions:

* per-step time of ``bg.fit`` against ``jit(lax.scan(value_and_grad + optax update))``
  written by hand on the same loss (target ratio <= 1.10): ``bg.fit`` stops at the step
  taken within the gradient tolerance, so the baseline scans that many steps, and the
  ratio is of the whole runs;
* compile time of ``bg.fit`` for 10,000 steps against 100 steps (target <= 1.1: the loop
  is a scan, so its length must not change what is compiled).

Prints a markdown table and writes JSON atomically to benchmarks/results/fit_overhead.json.

    python benchmarks/fit_overhead.py [--full] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import statistics
import time

import jax
from _common import environment, parse_args


def main() -> None:
    args = parse_args(
        __doc__, "fit_overhead", full="more steps and repetitions", reps=None, x64=True
    )
    import jax.numpy as jnp
    import numpyro
    import optax

    import bayesgen as bg
    from bayesgen._io import atomic_write_json

    reps = args.reps or (9 if args.full else 5)
    steps = 5000 if args.full else 1000
    rows = []
    cases = [
        (
            "ising 4x4, pseudo_likelihood",
            bg.models.Ising((4, 4)),
            "pseudo_likelihood",
            {"beta": 0.3, "h": 0.05},
            1000,
        ),
        (
            "ising 4x4, exact_mle",
            bg.models.Ising((4, 4)),
            "exact_mle",
            {"beta": 0.3, "h": 0.05},
            1000,
        ),
        (
            "ising 16x16, pseudo_likelihood",
            bg.models.Ising((16, 16)),
            "pseudo_likelihood",
            {"beta": 0.3, "h": 0.05},
            500,
        ),
    ]
    for label, model, method, truth, n in cases:
        data = model.sample(jax.random.key(0), truth, n, num_sweeps=200)
        est = bg.frequentist.driver.resolve(method)
        opt = optax.adam(0.01)

        # bg.fit stops at the step taken within the gradient tolerance; the hand-written
        # baseline (the same loss, the same optimiser, one jitted scan) takes that many.
        taken = len(bg.fit(model, data, method, optimizer=opt, num_steps=steps).loss_trace)

        def loss(p, data=data, model=model, est=est):
            return est.loss(model, p, data, jax.random.key(0))

        @jax.jit
        def baseline(p0, data=data, loss=loss, opt=opt, taken=taken):
            def body(carry, _):
                p, s = carry
                value, g = jax.value_and_grad(loss)(p)
                u, s = opt.update(g, s, p)
                return (optax.apply_updates(p, u), s), value

            return jax.lax.scan(body, (p0, opt.init(p0)), None, length=taken)

        p0 = {"beta": jnp.zeros(()), "h": jnp.zeros(())}
        jax.block_until_ready(baseline(p0))
        base_times, fit_times = [], []
        for _ in range(reps):
            t0 = time.perf_counter()
            jax.block_until_ready(baseline(p0))
            base_times.append(time.perf_counter() - t0)
            r = bg.fit(model, data, method, optimizer=opt, num_steps=steps, progress=False)
            fit_times.append(r.timing["run_s"])
        base, fit = statistics.median(base_times), statistics.median(fit_times)
        rows.append(
            {
                "case": label,
                "steps": steps,
                "steps_taken": taken,
                "baseline_step_us": 1e6 * base / taken,
                "fit_step_us": 1e6 * fit / taken,
                "ratio": fit / base,
            }
        )

    # Compile time against the number of steps (fresh optimiser objects: no cache reuse).
    model = bg.models.Ising((4, 4))
    data = model.sample(jax.random.key(1), {"beta": 0.3, "h": 0.05}, 1000)
    compile_s = {}
    for k in (100, 10_000):
        times = []
        for _ in range(reps):
            r = bg.fit(
                model,
                data,
                "pseudo_likelihood",
                optimizer=optax.adam(0.01),
                num_steps=k,
                progress=False,
            )
            times.append(r.timing["compile_s"])
        compile_s[k] = statistics.median(times)

    print(
        f"\nfit overhead ({jax.devices()[0]}, float64, jax {jax.__version__}, "
        f"numpyro {numpyro.__version__}, median of {reps})\n"
    )
    print(
        "| case | steps (taken) | hand-written us/step | bg.fit us/step | ratio (target <= 1.10) |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['steps']} ({r['steps_taken']}) | {r['baseline_step_us']:.2f} | "
            f"{r['fit_step_us']:.2f} | {r['ratio']:.3f} |"
        )
    ratio = compile_s[10_000] / compile_s[100]
    print(
        f"\ncompile time, 10,000 steps / 100 steps: {compile_s[10_000]:.3f} s / "
        f"{compile_s[100]:.3f} s = {ratio:.3f} (target <= 1.1)"
    )
    atomic_write_json(
        args.out,
        {
            **environment("fit_overhead", "float64"),
            "reps": reps,
            "rows": rows,
            "compile_s": {str(k): v for k, v in compile_s.items()},
            "compile_ratio": ratio,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
