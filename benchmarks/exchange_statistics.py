"""What does summing sufficient statistics save an exchange step in an exponential family?

A model that declares ``exponential_family`` lets exchange replace every sum of log f over
the data and the auxiliary data by η(θ) · Σ T: the data's statistics are summed once, and
an exact auxiliary draw is a draw of the summed statistics (``model.sample_statistics``:
Ising's density-of-states classes, the Boltzmann machine's configuration counts). Measured
in one run, after compilation, as the fastest of --reps repetitions: 1,000 exchange steps
of 4 vectorised chains with the statistics path, against the same model with the
declaration switched off (the same steps summing log f over every datum).

Prints a markdown table and writes JSON atomically to
benchmarks/results/exchange_statistics.json.

    python benchmarks/exchange_statistics.py [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import copy
import time

import jax
from _common import environment, parse_args


def _per_step_us(model, method, data, reps, steps=1000, chains=4):
    from bayesgen.bayesian import exchange
    from bayesgen.model import unconstrain

    z = unconstrain(model, model.default_truth)
    keys = jax.random.split(jax.random.key(0), chains)
    state = jax.vmap(lambda k: exchange.init(model, data, z, 10, k))(keys)

    @jax.jit
    def run(s):
        def body(s, _):
            return jax.vmap(lambda s: exchange.step(model, method, data, s))(s), None

        return jax.lax.scan(body, s, None, length=steps)[0]

    run(state).i.block_until_ready()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run(state).i.block_until_ready()
        times.append(time.perf_counter() - t0)
    return 1e6 * min(times) / steps


def main() -> None:
    args = parse_args(__doc__, "exchange_statistics", reps=3, x64=True)
    import bayesgen as bg
    from bayesgen._io import atomic_write_json
    from bayesgen.models.boltzmann import petersen_edges

    cases = [
        ("Ising 4x4, n = 500, exact", bg.models.Ising((4, 4)), 500),
        (
            "Boltzmann machine, 25 parameters, n = 2,000, exact",
            bg.models.BoltzmannMachine(10, petersen_edges()),
            2000,
        ),
        ("Ising 16x16, n = 100, 40 Gibbs sweeps", bg.models.Ising((16, 16), kernel="gibbs"), 100),
    ]
    rows = []
    print("| case | log f summed, us/step | statistics, us/step | speed-up |")
    print("|---|---|---|---|")
    for name, model, n in cases:
        method = bg.bayesian.Exchange(num_sweeps=40 if "Gibbs" in name else None)
        data = model.sample(jax.random.key(1), model.default_truth, n)
        plain = copy.copy(model)
        plain.exponential_family = False  # the same model, summing log f
        slow = _per_step_us(plain, method, data, args.reps)
        fast = _per_step_us(model, method, data, args.reps)
        rows.append({"case": name, "log_f_us": slow, "statistics_us": fast, "ratio": slow / fast})
        print(f"| {name} | {slow:.0f} | {fast:.0f} | {slow / fast:.2f} |")
    atomic_write_json(args.out, {**environment("exchange_statistics", "float64"), "rows": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
