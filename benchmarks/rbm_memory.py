"""Exact MLE of an RBM(64, 16) on 1,400 binary 64-vectors: peak memory, and held-out
log-likelihood against contrastive divergence on the same data.

The machine has 1,104 parameters. Its exact log Z enumerates the 2^16 hidden states in
chunks; with the gradient in forward mode (a tangent per parameter) the fit asked for 28 GB
(RESOURCE_EXHAUSTED); above 32 parameters the gradient is now checkpointed
reverse mode.
Data: 1,400 training and 600 held-out vectors drawn exactly from a fixed RBM(64, 16) with
weights of size about 0.5. Each method runs in its own process so that its peak resident
memory (ru_maxrss) is its own; held-out log-likelihood per datum is exact for both fits.
Exact MLE by L-BFGS at its default 100 steps and at 2,000, CD-1 by Adam at its default
1,000; each row says whether its optimiser converged (and why not), and the truth's own
held-out log-likelihood is beside them. Standard errors are skipped
(``uncertainty="none"``): the 1,104 x 1,104 observed information is a separate cost, not
the one measured here.

    python benchmarks/rbm_memory.py [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np
from _common import environment, parse_args

V, H, N_TRAIN, N_HELD = 64, 16, 1400, 600


def _data():
    import jax
    import jax.numpy as jnp

    import bayesgen as bg

    model = bg.models.RBM(V, H)
    i, j = np.meshgrid(np.arange(V), np.arange(H), indexing="ij")
    w = 0.5 * np.sin(1.0 + 1.7 * i + 2.1 * j)
    truth = {"W": jnp.asarray(w), "b": jnp.asarray(-0.5 * w.sum(1) / H), "c": jnp.zeros(H)}
    x = model.sample(jax.random.key(0), truth, N_TRAIN + N_HELD)
    return model, x[:N_TRAIN], x[N_TRAIN:], truth


def child(method: str, steps: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import bayesgen as bg

    model, train, held, truth = _data()
    t0 = time.perf_counter()
    fit = bg.fit(
        model, train, method=method, key=jax.random.key(1), uncertainty="none", num_steps=steps
    )
    seconds = time.perf_counter() - t0
    heldout = float(model.log_likelihood(fit.params, held)) / held.shape[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {
        "method": method,
        "heldout_loglik_per_datum": heldout,
        "train_loglik_per_datum": float(model.log_likelihood(fit.params, train)) / N_TRAIN,
        "seconds": seconds,
        "peak_rss_mb": peak_mb,
        "num_steps": steps,
        "converged": bool(fit.converged),
        "truth_heldout_loglik_per_datum": float(model.log_likelihood(truth, held)) / N_HELD,
        "why": fit.why if not fit.converged else "",
    }
    print(json.dumps(row))


# (method, optimiser steps): exact MLE by L-BFGS at its default 100 steps and run on to 2,000
# (close to the MLE: 1,104 parameters on 1,400 data overfit), CD-1 by Adam at its 1,000.
RUNS = (("exact_mle", 100), ("exact_mle", 2000), ("contrastive_divergence", 1000))


def main() -> None:
    args = parse_args(__doc__, "rbm_memory", reps=False, x64=True)
    from bayesgen._io import atomic_write_json

    rows = []
    for method, steps in RUNS:
        cmd = [sys.executable, __file__, "--child", method, str(steps)]
        if args.platform:
            cmd += ["--platform", args.platform]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"| {method} | {steps} | {r['train_loglik_per_datum']:.4f} | "
            f"{r['heldout_loglik_per_datum']:.4f} | {r['seconds']:.1f} | "
            f"{r['peak_rss_mb']:.0f} MB | {r['converged']} |",
            flush=True,
        )
    atomic_write_json(args.out, {**environment("rbm_memory", "float64"), "rows": rows})


if __name__ == "__main__":
    if "--child" in sys.argv:
        i = sys.argv.index("--child")
        method, steps = sys.argv[i + 1], int(sys.argv[i + 2])
        del sys.argv[i : i + 3]
        parse_args(__doc__, "rbm_memory", reps=False, x64=True)
        child(method, steps)
    else:
        main()
