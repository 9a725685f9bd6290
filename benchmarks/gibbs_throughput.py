"""Data-space sampling: Ising checkerboard Gibbs throughput, in site updates per second.

The same task for every contender: a periodic L x L Ising lattice at β = 0.3, h = 0.05,
C independent chains from uniform random spins, K full checkerboard sweeps (every site
once, from its exact conditional), final states back on the host's device. Contenders:

* ``bayesgen``: :func:`bayesgen.samplers.checkerboard.run` over a ``(C, L, L)`` batch;
* ``hand-written``: a plain JAX checkerboard sweep of one lattice (four rolls and a sigmoid
  per colour), ``vmap``-ed over chains, ``fori_loop`` over sweeps, jitted — the baseline;
* ``multi-spin``: :func:`bayesgen.samplers.multispin.run`, 32 chains bit-packed per
  ``uint32`` word (only where C is a multiple of 32), and ``random bits alone``, the same
  loop drawing only the 8 random words per 32 updates that every site needs (the high bits
  of its uniforms; the low ones go to about 12% of the words): a floor on its cost;
* ``thrml`` and ``hamon`` (general block-Gibbs libraries; installed by the ``bench``
  extra, skipped with a note when absent): the lattice as a graph of spin nodes with
  periodic bonds, two colour blocks, ``vmap`` over chains (hamon: its own batched call).

Timings are after compilation, the median of ``--reps`` calls, float32; K is chosen per
size so that each call does about 2e7 site updates. Targets: bayesgen at least as fast as
the best peer at every size, and at least 0.9 of the hand-written baseline. Agreement:
after 300 sweeps of 512 chains of 16 x 16, every contender's mean magnetisation and bond
energy per site are compared with bayesgen's (z-scores over independent chains).

    python benchmarks/gibbs_throughput.py [--full] [--reps 5] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, parse_args

BETA, H = 0.3, 0.05
QUICK = [(16, 1), (16, 1024), (64, 32), (256, 1), (256, 32)]
FULL = [(L, C) for L in (16, 32, 64, 128, 256) for C in (1, 4, 32, 256, 1024)]
UPDATES_PER_CALL = 2e7


def sweeps_for(L: int, C: int) -> int:
    return int(min(2000, max(5, round(UPDATES_PER_CALL / (L * L * C)))))


# -- contenders: each make(L, C, K) returns (run(key) -> (C, L, L) spins in {-1, 1}) --------
def make_bayesgen(L, C, K):
    from bayesgen.samplers import checkerboard

    @jax.jit
    def run(key):
        k_init, k_run = jax.random.split(key)
        spins = checkerboard.init(k_init, (L, L), C)
        return checkerboard.run(k_run, spins, BETA, H, K)

    return run


def make_handwritten(L, C, K):
    parity = jnp.asarray(np.add.outer(np.arange(L), np.arange(L)) % 2)

    def sweep(key, s):
        u = jax.random.uniform(key, s.shape, s.dtype)
        for colour in (0, 1):
            nb = jnp.roll(s, 1, 0) + jnp.roll(s, -1, 0) + jnp.roll(s, 1, 1) + jnp.roll(s, -1, 1)
            p_up = jax.nn.sigmoid(2.0 * (BETA * nb + H))
            s = jnp.where(parity == colour, jnp.where(u < p_up, 1.0, -1.0), s)
        return s

    def chain(key):
        k_init, k_run = jax.random.split(key)
        s = jnp.where(jax.random.bernoulli(k_init, 0.5, (L, L)), 1.0, -1.0)
        return jax.lax.fori_loop(0, K, lambda i, s: sweep(jax.random.fold_in(k_run, i), s), s)

    return jax.jit(lambda key: jax.vmap(chain)(jax.random.split(key, C)))


def _peer_program(lib, L):
    """A periodic L x L Ising model as ``lib``'s graph: p ∝ exp(β Σ s_i s_j + h Σ s_i)
    (their energy is -(Σ b s + Σ J s s) at inverse temperature 1), two colour blocks."""
    models = __import__(f"{lib.__name__}.models", fromlist=["IsingEBM"])
    n = L * L
    nodes = [lib.SpinNode() for _ in range(n)]

    def at(r, c):
        return nodes[(r % L) * L + c % L]

    edges = [(at(r, c), at(r, c + 1)) for r in range(L) for c in range(L)]
    edges += [(at(r, c), at(r + 1, c)) for r in range(L) for c in range(L)]
    ebm = models.IsingEBM(
        nodes,
        edges,
        biases=jnp.full((n,), H),
        weights=jnp.full((2 * n,), BETA),
        beta=jnp.array(1.0),
    )
    colours = [lib.Block([nodes[i] for i in range(n) if (i // L + i % L) % 2 == c]) for c in (0, 1)]
    program = models.IsingSamplingProgram(ebm, colours, [])
    return program, colours, lib.Block(nodes)


def _peer_init(key, colours, C):
    keys = jax.random.split(key, len(colours))
    return [jax.random.bernoulli(k, 0.5, (C, len(b))) for k, b in zip(keys, colours, strict=True)]


def make_thrml(L, C, K):
    import thrml

    program, colours, everything = _peer_program(thrml, L)
    schedule = thrml.SamplingSchedule(n_warmup=K, n_samples=1, steps_per_sample=1)

    def chain(key, init):
        return thrml.sample_states(key, program, schedule, init, [], [everything])[0][-1]

    @jax.jit
    def run(key):
        k_init, k_run = jax.random.split(key)
        init = _peer_init(k_init, colours, C)
        final = jax.vmap(chain)(jax.random.split(k_run, C), init)
        return jnp.where(final, 1.0, -1.0).reshape(C, L, L)

    return run


def make_hamon(L, C, K):
    import hamon

    program, colours, everything = _peer_program(hamon, L)
    schedule = hamon.SamplingSchedule(n_warmup=K, n_samples=1, steps_per_sample=1)

    def run(key):  # hamon's batched call is compiled by hamon (equinox filter_jit)
        k_init, k_run = jax.random.split(key)
        init = _peer_init(k_init, colours, C)
        final = hamon.sample_states_batched(
            k_run, program, schedule, init, [], [everything], device=None
        )[0][:, -1]
        return jnp.where(final, 1.0, -1.0).reshape(C, L, L)

    return run


def make_multispin(L, C, K):
    if C % 32:
        return None
    from bayesgen.samplers import multispin

    @jax.jit
    def run(key):
        k_init, k_run = jax.random.split(key)
        words = multispin.run(k_run, multispin.init(k_init, (L, L), C), BETA, H, K)
        return multispin.unpack(words, jnp.float32)

    return run


def make_random_bits(L, C, K):
    if C % 32:
        return None
    from bayesgen.samplers import multispin

    shape = (multispin.HIGH_BITS, C // 32, L, L)

    @jax.jit
    def run(key):  # the sweep's high random words, folded so that none is skipped
        def body(i, acc):
            return acc ^ jnp.bitwise_xor.reduce(
                jax.random.bits(jax.random.fold_in(key, i), shape, jnp.uint32), axis=0
            )

        return jax.lax.fori_loop(0, K, body, jnp.zeros(shape[1:], jnp.uint32))

    return run


CONTENDERS = {
    "bayesgen": make_bayesgen,
    "hand-written": make_handwritten,
    "thrml": make_thrml,
    "hamon": make_hamon,
}
MULTISPIN = {"multi-spin": make_multispin, "random bits alone": make_random_bits}


def available() -> tuple[dict, dict]:
    found, missing = {}, {}
    for name, make in CONTENDERS.items():
        if name in ("thrml", "hamon"):
            try:
                __import__(name)
            except ImportError:
                missing[name] = "not installed (pip install -e '.[bench]')"
                continue
        found[name] = make
    return found, missing


def per_chain_observables(spins):
    """Magnetisation and bond energy -Σ s_i s_j per site, per chain."""
    s = np.asarray(spins, np.float64)
    m = s.mean(axis=(1, 2))
    e = -(s * (np.roll(s, 1, 1) + np.roll(s, 1, 2))).mean(axis=(1, 2))
    return m, e


def main() -> None:
    args = parse_args(__doc__, "gibbs_throughput", full="every L in 16..256 x C in 1..1024")

    from bayesgen._io import atomic_write_json

    contenders, missing = available()
    rows = []
    for L, C in FULL if args.full else QUICK:
        K = sweeps_for(L, C)
        for name, make in {**contenders, **MULTISPIN}.items():
            run = make(L, C, K)
            if run is None:
                continue
            jax.block_until_ready(run(jax.random.key(0)))  # compile
            times = []
            for i in range(args.reps):
                t0 = time.perf_counter()
                jax.block_until_ready(run(jax.random.key(i + 1)))
                times.append(time.perf_counter() - t0)
            seconds = statistics.median(times)
            rows.append(
                {
                    "contender": name,
                    "L": L,
                    "chains": C,
                    "sweeps": K,
                    "seconds": seconds,
                    "updates_per_s": L * L * C * K / seconds,
                }
            )
            print(f"L={L} C={C} K={K} {name}: {rows[-1]['updates_per_s']:.3e} updates/s")

    agreement = []
    observed = {}
    for name, make in {**contenders, "multi-spin": make_multispin}.items():
        spins = make(16, 512, 300)(jax.random.key(99))
        observed[name] = per_chain_observables(spins)
    ref_m, ref_e = observed["bayesgen"]
    for name, (m, e) in observed.items():
        row = {"contender": name}
        for label, x, ref in (("magnetisation", m, ref_m), ("energy", e, ref_e)):
            se = np.sqrt(x.var(ddof=1) / x.size + ref.var(ddof=1) / ref.size)
            row[label] = float(x.mean())
            row[f"{label} z vs bayesgen"] = (
                0.0 if name == "bayesgen" else float((x.mean() - ref.mean()) / se)
            )
        agreement.append(row)

    print(f"\nIsing checkerboard Gibbs ({jax.devices()[0]}, float32, median of {args.reps})\n")
    names = list(contenders)
    print(
        "| L | chains | sweeps | "
        + " | ".join(f"{n} updates/s" for n in names)
        + " | "
        + " | ".join(f"bayesgen / {n}" for n in names[1:])
        + " |"
    )
    print("|" + "---|" * (3 + 2 * len(names) - 1))
    for L, C in FULL if args.full else QUICK:
        by = {r["contender"]: r for r in rows if r["L"] == L and r["chains"] == C}
        cells = [f"{by[n]['updates_per_s']:.3g}" for n in names]
        ratios = [
            f"{by['bayesgen']['updates_per_s'] / by[n]['updates_per_s']:.2f}" for n in names[1:]
        ]
        print(f"| {L} | {C} | {by['bayesgen']['sweeps']} | " + " | ".join(cells + ratios) + " |")
    print("\nmulti-spin coding (32 chains per word), where C is a multiple of 32\n")
    print("| L | chains | multi-spin updates/s | random bits alone | / bayesgen | / thrml |")
    print("|---|---|---|---|---|---|")
    for L, C in FULL if args.full else QUICK:
        by = {r["contender"]: r for r in rows if r["L"] == L and r["chains"] == C}
        if "multi-spin" not in by:
            continue
        rate = by["multi-spin"]["updates_per_s"]
        thrml = f"{rate / by['thrml']['updates_per_s']:.2f}" if "thrml" in by else "-"
        print(
            f"| {L} | {C} | {rate:.3g} | {by['random bits alone']['updates_per_s']:.3g}"
            f" | {rate / by['bayesgen']['updates_per_s']:.2f} | {thrml} |"
        )
    print("\nagreement after 300 sweeps of 512 chains of 16 x 16 (z against bayesgen)\n")
    print("| contender | magnetisation | z | bond energy | z |")
    print("|---|---|---|---|---|")
    for r in agreement:
        zm, ze = r["magnetisation z vs bayesgen"], r["energy z vs bayesgen"]
        print(
            f"| {r['contender']} | {r['magnetisation']:.4f} | {zm:+.2f}"
            f" | {r['energy']:.4f} | {ze:+.2f} |"
        )
    for name, why in missing.items():
        print(f"skipped {name}: {why}")
    atomic_write_json(
        args.out,
        {
            **environment("gibbs_throughput", "float32"),
            "beta": BETA,
            "h": H,
            "reps": args.reps,
            "rows": rows,
            "agreement": agreement,
            "skipped": missing,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
