"""How much does bg.sample_posterior cost over hand-written NumPyro, and what does the
exchange algorithm cost beyond its auxiliary simulation?

Measured in one run, after compilation, as the median of --reps repetitions:

* ``bg.sample_posterior(model, data, "nuts")`` against ``numpyro.infer.MCMC(NUTS(...))``
  written by hand on the same potential (:func:`bayesgen.bayesian.numpyro_model`), with the
  same key, chains and lengths, and against the same NumPyro kernel in a hand-written loop
  compiled once (``MCMC.run`` recompiles its vectorised loop on every call, so it is the
  slower baseline); the leapfrog counts of bayesgen and ``MCMC.run`` must match draw for
  draw (the same trajectories; the separately compiled scan can part from them by float
  rounding, so its share of equal counts is reported), and the wall time of a whole call
  is compared (target ratio <= 1.05, against the faster baseline);
* the same potential sampled by BlackJAX NUTS (``window_adaptation`` for step size and a
  diagonal mass matrix over the same warm-up length, then NUTS; chains vmapped, all
  compiled once; installed by the ``bench`` extra): bulk ESS per second of each, after
  compilation (the two adapt differently, so ESS/s, not wall time, is the comparison);
* the exchange algorithm with Gibbs auxiliary draws (4 chains, vectorised): its time per
  iteration against the auxiliary simulation alone (the same sweeps on the same lattices
  in a hand-written jitted loop; target ratio <= 1.10).

Prints a markdown table and writes JSON atomically to
benchmarks/results/posterior_overhead.json.

    python benchmarks/posterior_overhead.py [--full] [--platform cpu|gpu|tpu]
"""

from __future__ import annotations

import statistics
import time

import jax
from _common import environment, parse_args


def main() -> None:
    args = parse_args(
        __doc__, "posterior_overhead", full="longer chains, more repetitions", reps=None
    )
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    from numpyro.infer import MCMC, NUTS

    import bayesgen as bg
    from bayesgen._io import atomic_write_json

    reps = args.reps or (7 if args.full else 5)
    draws = 2000 if args.full else 500
    chains = 4
    truth = {"beta": 0.3, "h": 0.05}
    model = bg.models.Ising((4, 4))
    data = model.sample(jax.random.key(0), truth, 500)
    key = jax.random.key(1)

    # -- NUTS: bayesgen against hand-written NumPyro, same potential, key and settings ------
    mcmc = MCMC(
        NUTS(bg.bayesian.numpyro_model(model)),
        num_warmup=draws,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
        jit_model_args=True,  # new data of the same shape reuses the compiled sampler
    )

    def by_hand():
        mcmc.run(key, data, extra_fields=("num_steps",))
        return jax.block_until_ready(mcmc.get_samples(group_by_chain=True))

    # NumPyro's MCMC.run recompiles its vectorised collection loop on every call (even with
    # jit_model_args), so also compare with the same kernel in a hand-written loop compiled
    # once: jit(init), then jit(scan(kernel.sample)) over warm-up and draws.
    kernel = NUTS(bg.bayesian.numpyro_model(model))

    @jax.jit
    def loop(state, data):
        def step(s, _):
            s = kernel.sample(s, (data,), {})
            stats = (s.accept_prob, s.diverging, s.num_steps, s.potential_energy)
            return s, (s.z, stats)

        state, _ = jax.lax.scan(
            lambda s, _: (kernel.sample(s, (data,), {}), None), state, None, length=draws
        )
        return jax.lax.scan(step, state, None, length=draws)[1]

    # NumPyro's init is many small operations: compiled too, so that the baseline is the
    # fastest hand-written use of the kernel (traced once, so its sample function is
    # vmapped over chains once).
    init = jax.jit(lambda keys, data: kernel.init(keys, draws, None, (data,), {}))

    def by_scan():
        state = init(jax.random.split(key, chains), data)
        return jax.block_until_ready(loop(state, data))

    def by_bayesgen():
        return bg.sample_posterior(
            model, data, "nuts", key=key, num_warmup=draws, num_samples=draws, num_chains=chains
        )

    by_hand(), by_scan(), by_bayesgen()  # compile all three
    hand_s, scan_s, ours_s, ours_run_s = [], [], [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        by_hand()
        hand_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scan_steps = np.asarray(by_scan()[1][2]).T  # (chains, draws)
        scan_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = by_bayesgen()
        ours_s.append(time.perf_counter() - t0)
        ours_run_s.append(result.timing["run_s"])
    hand_steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"])
    ours_steps = result.sample_stats["num_steps"]
    steps_match = bool(np.array_equal(hand_steps, ours_steps))
    nuts = {
        "case": f"ising 4x4, n=500, nuts, {chains} chains x {draws}+{draws}",
        "mcmc_run_s": statistics.median(hand_s),
        "hand_written_scan_s": statistics.median(scan_s),
        "bayesgen_s": statistics.median(ours_s),
        "bayesgen_run_s": statistics.median(ours_run_s),
        "ratio_vs_mcmc_run": statistics.median(ours_s) / statistics.median(hand_s),
        "ratio": statistics.median(ours_s) / statistics.median(scan_s),
        "leapfrog_steps": int(ours_steps.sum()),
        "leapfrog_steps_match": steps_match,
        # the scan is compiled as a different program: float rounding can part trajectories
        "scan_draws_with_equal_steps": float(np.mean(scan_steps == ours_steps)),
    }

    # -- BlackJAX NUTS on the same potential: ESS per second --------------------------------
    import arviz as az

    def min_bulk_ess(samples):
        ess = az.ess(az.from_dict({"posterior": samples}), method="bulk")
        return min(float(np.min(np.asarray(ess[k]))) for k in samples)

    ours_ess_per_s = min_bulk_ess(result.samples) / statistics.median(ours_run_s)
    blackjax_row = None
    try:
        import blackjax
    except ImportError:
        blackjax = None
    if blackjax is not None:
        from numpyro.infer.util import initialize_model

        info = initialize_model(
            key, bg.bayesian.numpyro_model(model), model_args=(data,), dynamic_args=True
        )

        def blackjax_chain(chain_key, data):
            def logdensity(z):
                return -info.potential_fn(data)(z)

            k_warm, k_draw = jax.random.split(chain_key)
            start = jax.tree.map(jnp.zeros_like, info.param_info.z)
            warmup = blackjax.window_adaptation(blackjax.nuts, logdensity)
            (state, parameters), _ = warmup.run(k_warm, start, num_steps=draws)
            kernel_ = blackjax.nuts(logdensity, **parameters)

            def step(state, k):
                state, step_info = kernel_.step(k, state)
                return state, (state.position, step_info.num_integration_steps)

            return jax.lax.scan(step, state, jax.random.split(k_draw, draws))[1]

        blackjax_run = jax.jit(jax.vmap(blackjax_chain, (0, None)))
        chain_keys = jax.random.split(key, chains)
        jax.block_until_ready(blackjax_run(chain_keys, data))  # compile
        bj_s = []
        for _ in range(reps):
            t0 = time.perf_counter()
            positions, bj_steps = jax.block_until_ready(blackjax_run(chain_keys, data))
            bj_s.append(time.perf_counter() - t0)
        post = jax.vmap(jax.vmap(info.postprocess_fn(data)))(positions)
        bj_samples = {k: np.asarray(post[k]) for k in model.param_names}
        blackjax_row = {
            "blackjax": blackjax.__version__,
            "blackjax_s": statistics.median(bj_s),
            "blackjax_ess_per_s": min_bulk_ess(bj_samples) / statistics.median(bj_s),
            "blackjax_leapfrog_steps_sampling": int(np.asarray(bj_steps).sum()),
            "blackjax_means": {k: float(v.mean()) for k, v in bj_samples.items()},
        }
    nuts["bayesgen_ess_per_s"] = ours_ess_per_s
    nuts["bayesgen_means"] = {k: float(v.mean()) for k, v in result.samples.items()}
    if blackjax_row is not None:
        nuts.update(blackjax_row)

    # -- exchange: time per iteration against the auxiliary simulation alone ----------------
    method = bg.bayesian.Exchange(auxiliary="mcmc", num_sweeps=20)  # fixed, as before
    steps = method.thinning_for(model.num_params)  # exchange steps per recorded draw
    iters = 2 * draws * steps  # exchange steps, each one auxiliary simulation
    params = {k: jnp.asarray(v, data.dtype) for k, v in truth.items()}

    @jax.jit
    def auxiliary_only(key):
        def body(carry, k):
            keys = jax.random.split(k, chains)
            w = jax.vmap(lambda kk: model.mcmc_run(kk, params, data, method.num_sweeps))(keys)
            return carry + w[:, 0, 0, 0].sum(), None

        return jax.lax.scan(body, jnp.zeros((), data.dtype), jax.random.split(key, iters))[0]

    def exchange():
        return bg.sample_posterior(
            model, data, method, key=key, num_warmup=draws, num_samples=draws, num_chains=chains
        )

    jax.block_until_ready(auxiliary_only(key)), exchange()
    aux_s, exch_s = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(auxiliary_only(key))
        aux_s.append(time.perf_counter() - t0)
        exch_s.append(exchange().timing["run_s"])
    exch = {
        "case": f"ising 4x4, n=500, exchange (Gibbs, {method.num_sweeps} sweeps), {chains} chains",
        "iterations": iters,  # exchange steps (each draw is `steps` of them)
        "auxiliary_ms_per_iter": 1e3 * statistics.median(aux_s) / iters,
        "exchange_ms_per_iter": 1e3 * statistics.median(exch_s) / iters,
        "ratio": statistics.median(exch_s) / statistics.median(aux_s),
    }

    dtype = str(data.dtype)
    print(
        f"\nposterior overhead ({jax.devices()[0]}, {dtype}, jax {jax.__version__}, "
        f"numpyro {numpyro.__version__}, median of {reps})\n"
    )
    print(
        "| case | MCMC.run s | hand-written scan s | bg.sample_posterior s | "
        "ratio to scan (target <= 1.05) | ratio to MCMC.run | leapfrog steps match |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {nuts['case']} | {nuts['mcmc_run_s']:.3f} | {nuts['hand_written_scan_s']:.3f} | "
        f"{nuts['bayesgen_s']:.3f} | {nuts['ratio']:.3f} | {nuts['ratio_vs_mcmc_run']:.3f} | "
        f"{nuts['leapfrog_steps_match']} ({nuts['leapfrog_steps']}; scan "
        f"{nuts['scan_draws_with_equal_steps']:.0%}) |"
    )
    if blackjax_row is not None:
        print("\n| NUTS on the same potential | run s | min bulk ESS / s | posterior mean β |")
        print("|---|---|---|---|")
        print(
            f"| bayesgen (NumPyro NUTS) | {nuts['bayesgen_run_s']:.3f} | "
            f"{nuts['bayesgen_ess_per_s']:.0f} | {nuts['bayesgen_means']['beta']:.4f} |"
        )
        print(
            f"| BlackJAX {nuts['blackjax']} NUTS | {nuts['blackjax_s']:.3f} | "
            f"{nuts['blackjax_ess_per_s']:.0f} | {nuts['blackjax_means']['beta']:.4f} |"
        )
    else:
        print("\nskipped BlackJAX: not installed (pip install -e '.[bench]')")
    print("\n| case | auxiliary alone ms/iter | exchange ms/iter | ratio (target <= 1.10) |")
    print("|---|---|---|---|")
    print(
        f"| {exch['case']} | {exch['auxiliary_ms_per_iter']:.3f} | "
        f"{exch['exchange_ms_per_iter']:.3f} | {exch['ratio']:.3f} |"
    )
    atomic_write_json(
        args.out,
        {
            **environment("posterior_overhead", dtype),
            "reps": reps,
            "nuts": nuts,
            "exchange": exch,
        },
    )
    print(f"wrote {args.out}")
    if not steps_match:
        raise SystemExit("leapfrog step counts differ between bayesgen and hand-written NumPyro")


if __name__ == "__main__":
    main()
