"""Does the exchange algorithm sample the exact posterior? NUTS on the exact likelihood
against the exchange algorithm with exact and with Gibbs auxiliary draws, on the Ising
4 x 4 (n = 500) and 8 x 8 (n = 200, transfer-matrix log Z) at beta = 0.3, h = 0.05.

For each method and parameter: posterior mean, sd, the difference in means in units of
their combined Monte Carlo standard error (agreement: |z| < 4), the sd ratio (within 10%),
max R-hat, and bulk ESS per second of sampling. The tests check the same agreement against
quadrature (``tests/bayesian/test_posteriors.py``); this script adds NUTS on 8 x 8, which
costs minutes. Prints a markdown table and writes JSON atomically to
benchmarks/results/exchange_agreement.json.

    python benchmarks/exchange_agreement.py [--full] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import jax
from _common import environment, parse_args


def main() -> None:
    args = parse_args(__doc__, "exchange_agreement", full="twice the draws", reps=False)
    import numpy as np
    import numpyro

    import bayesgen as bg
    from bayesgen._io import atomic_write_json

    scale = 2 if args.full else 1
    truth = {"beta": 0.3, "h": 0.05}
    rows = []
    cases = [
        ((4, 4), 500, ("nuts", "exchange exact", "exchange gibbs")),
        ((8, 8), 200, ("nuts", "exchange gibbs")),
    ]
    for shape, n, labels in cases:
        model = bg.models.Ising(shape)
        data = model.sample(jax.random.key(88), truth, n)
        results = {}
        for j, label in enumerate(labels):
            if label == "nuts":
                method, warm, draws = "nuts", 500, 1000 * scale
            else:
                aux = label.split()[1].replace("gibbs", "mcmc")
                method, warm, draws = bg.bayesian.Exchange(auxiliary=aux), 2000, 5000 * scale
            results[label] = bg.sample_posterior(
                model, data, method, key=jax.random.key(j), num_warmup=warm, num_samples=draws
            )
        ref = results["nuts"]
        for label, r in results.items():
            diag = r.diagnostics()
            for name in model.param_names:
                d, d_ref = r.samples[name], ref.samples[name]
                mcse = d.std() / np.sqrt(diag[name]["ess_bulk"])
                mcse_ref = d_ref.std() / np.sqrt(ref.diagnostics()[name]["ess_bulk"])
                rows.append(
                    {
                        "lattice": f"{shape[0]}x{shape[1]}",
                        "n": n,
                        "method": label,
                        "param": name,
                        "mean": float(d.mean()),
                        "sd": float(d.std()),
                        "z_vs_nuts": float((d.mean() - d_ref.mean()) / np.hypot(mcse, mcse_ref)),
                        "sd_ratio_vs_nuts": float(d.std() / d_ref.std()),
                        "r_hat": diag[name]["r_hat"],
                        "ess_bulk": diag[name]["ess_bulk"],
                        "ess_per_s": diag[name]["ess_bulk"] / r.timing["run_s"],
                        "run_s": r.timing["run_s"],
                    }
                )
    print(
        f"\nexchange vs NUTS ({jax.devices()[0]}, jax {jax.__version__}, "
        f"numpyro {numpyro.__version__})\n"
    )
    print(
        "| lattice | n | method | param | mean | sd | z vs nuts | sd ratio | R-hat | ESS | ESS/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['lattice']} | {r['n']} | {r['method']} | {r['param']} | {r['mean']:.5f} | "
            f"{r['sd']:.5f} | {r['z_vs_nuts']:+.2f} | {r['sd_ratio_vs_nuts']:.3f} | "
            f"{r['r_hat']:.4f} | {r['ess_bulk']:.0f} | {r['ess_per_s']:.1f} |"
        )
    atomic_write_json(
        args.out,
        {
            **environment("exchange_agreement", "float32"),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
