"""The ``bayesgen`` command line.

    bayesgen models
    bayesgen simulate MODEL [--shape 4x4] [--truth beta=0.3,h=0.05] [--n 500] [--seed 0]
                            [--json FILE] [--platform cpu|gpu|tpu]
    bayesgen compare MODEL [--shape 4x4] [--truth beta=0.3,h=0.05] [--n 500] [--methods a,b]
                           [--seed 0] [--json FILE] [--plot FILE] [--platform cpu|gpu|tpu]
                           [--warmup 1000] [--draws 1000] [--chains 4] [--data NAME|FILE]
                           [--terms edges,triangles] [--bootstrap 100]
    bayesgen study MODEL [--shape 4x4] [--truth beta=0.3,h=0.05] [--n 300] [--methods a,b]
                         [--replicates 100] [--level 0.95] [--seed 0] [--json FILE]
                         [--platform cpu|gpu|tpu] [--warmup 500] [--draws 500] [--chains 4]
                         [--bootstrap 0] [--out DIR] [--chunk 25]
    bayesgen sweep GRID.toml --out DIR [--ray [ADDRESS]] [--cpus-per-cell 1]
                             [--gpus-per-cell G] [--single-threaded] [--json FILE]
                             [--plot FILE]
    bayesgen sweep --collect DIR [--json FILE] [--plot FILE]

Errors are one line on stderr and a non-zero exit status (2 for bad input), never a
traceback. float64 is enabled here, at the entry point.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bayesgen.errors import BayesgenError, ParameterError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        raise BayesgenError(f"{message} (see `{self.prog} --help`)")


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    from bayesgen.models.spec import parse_shape

    return parse_shape(text)


def _parse_truth(text: str | None, model) -> dict:
    """``beta=0.3,h=0.05``; a scalar fills a vector, times the identity for a matrix;
    vectors may be written ``mu=0.5:1.0`` (filled and checked by
    :func:`bayesgen.models.spec.truth_params`, as a sweep grid's truth is)."""
    from bayesgen.models.spec import truth_params

    values = {}
    if text:
        for item in text.split(","):
            name, sep, value = item.partition("=")
            name = name.strip()
            if not sep or name not in model.param_names:
                raise ParameterError(
                    f"--truth takes name=value pairs for {model.param_names}; got {item!r}"
                )
            try:
                numbers = [float(v) for v in value.split(":")]
            except ValueError:
                raise ParameterError(f"--truth {name}: {value!r} is not a number") from None
            values[name] = numbers if len(numbers) > 1 else numbers[0]
    return truth_params(values, model)


def _setup_jax(platform: str | None):
    import jax

    jax.config.update("jax_enable_x64", True)
    if platform:
        try:
            jax.config.update("jax_platforms", platform)
            jax.devices()
        except RuntimeError as err:
            raise BayesgenError(
                f"--platform {platform}: no such device here ({str(err).splitlines()[0]})"
            ) from None
    return jax


def _make_model(name: str, shape, truth: str | None = None, **options):
    """The model ``name`` from the CLI's flags (see :func:`bayesgen.models.spec.make_model`):
    the names in ``--truth`` choose the variant (Ising's zero field)."""
    from bayesgen.models.spec import make_model

    names = [item.partition("=")[0].strip() for item in truth.split(",")] if truth else []
    return make_model(name, shape, names, **options)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_models(args) -> int:
    _setup_jax(None)
    from bayesgen.models import REGISTRY

    rows = []
    for name, cls in REGISTRY.items():
        m = cls()
        rows.append(
            [
                name,
                repr(m),
                ", ".join(m.param_names),
                m.support.name,
                m.normalizer or "none (intractable)",
                m.sampler,
            ]
        )
    print(_table(["model", "default", "parameters", "data", "normaliser", "sampler"], rows))
    return 0


def _timed_log_z(jax, model, params):
    fn = jax.jit(model.log_normalizer)
    t0 = time.perf_counter()
    compiled = fn.lower(params).compile()
    t1 = time.perf_counter()
    value = compiled(params).block_until_ready()
    t2 = time.perf_counter()
    return float(value), t1 - t0, t2 - t1


def _check_writable(*paths) -> None:
    """Fail before any work if an output file could not be written: its folder is created
    if missing and must accept a new file (nothing is left behind by the check)."""
    import tempfile
    from pathlib import Path

    for path in paths:
        if not path:
            continue
        folder = Path(path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".bayesgen-check."):
                pass
        except OSError as err:
            reason = err.strerror or str(err)
            raise BayesgenError(f"cannot write {path}: {reason}") from None
        if Path(path).is_dir():
            raise BayesgenError(f"cannot write {path}: it is a folder")


def _terms(args):
    text = getattr(args, "terms", None)
    if text is None:
        return None
    terms = [t.strip() for t in text.split(",") if t.strip()]
    if not terms:
        raise ParameterError("--terms names no term; e.g. --terms edges,triangles")
    return tuple(terms)


def _model_and_truth(args, min_n: int, **options):
    """JAX set up, the model, its true parameters (and their text) from the common flags;
    output files are checked for writability first."""
    _check_writable(getattr(args, "json", None), getattr(args, "plot", None))
    jax = _setup_jax(args.platform)
    model = _make_model(
        args.model, _parse_shape(args.shape), args.truth, terms=_terms(args), **options
    )
    truth = _parse_truth(args.truth, model)
    if args.n < min_n:
        raise ParameterError(f"--n must be at least {min_n}; got {args.n}")
    truth_text = ", ".join(f"{k}={np.round(np.asarray(v), 4).tolist()}" for k, v in truth.items())
    return jax, model, truth, truth_text


def cmd_simulate(args) -> int:
    from bayesgen._io import atomic_write_json

    jax, model, truth, truth_text = _model_and_truth(args, 1)
    from bayesgen._engine import device_description

    device = device_description()
    print(
        f"bayesgen simulate: {model!r}, {truth_text}, n={args.n}, seed={args.seed} "
        f"({device}, float64)\n"
    )

    report = {
        "model": repr(model),
        "truth": {k: np.asarray(v).tolist() for k, v in truth.items()},
        "n": args.n,
        "seed": args.seed,
        "device": device,
        "log_normalizer": [],
    }
    variants = [model]
    if hasattr(model, "with_normalizer"):
        variants = []
        for strategy in ("enumeration", "transfer_matrix"):
            try:
                variants.append(model.with_normalizer(strategy))
            except BayesgenError:
                pass
    rows = []
    for m in variants:
        if not m.has_exact_normalizer:
            continue
        value, compile_s, run_s = _timed_log_z(jax, m, truth)
        rows.append([m.normalizer, f"{value:.12f}", f"{compile_s:.3f}", f"{run_s:.5f}"])
        report["log_normalizer"].append(
            {"strategy": m.normalizer, "value": value, "compile_s": compile_s, "run_s": run_s}
        )
    if rows:
        print("exact log Z(θ)")
        print(_table(["strategy", "log Z", "compile s", "run s"], rows) + "\n")
    else:
        print(f"exact log Z(θ): not available for {model!r}\n")

    key = jax.random.key(args.seed)
    t0 = time.perf_counter()
    data = jax.block_until_ready(model.sample(key, truth, args.n))
    sample_s = time.perf_counter() - t0
    print(f"simulated {args.n} data in {sample_s:.2f} s ({model.sampler})")
    stats = np.asarray(jax.vmap(model.statistics)(data))
    mean, se = stats.mean(0), stats.std(0, ddof=1) / np.sqrt(args.n)
    report["statistics"] = []
    if model.has_exact_normalizer:
        expected = np.asarray(model.expected_statistics(truth))
        rows = []
        for name, e, m_, s_ in zip(model.statistic_names, expected, mean, se, strict=True):
            z = (m_ - e) / s_ if s_ > 0 else float("nan")
            rows.append([name, f"{e:.5f}", f"{m_:.5f}", f"{s_:.5f}", f"{z:+.2f}"])
            report["statistics"].append(
                {
                    "name": name,
                    "exact_mean": float(e),
                    "sample_mean": float(m_),
                    "std_error": float(s_),
                }
            )
        print("sample statistics against their exact expectations")
        print(_table(["statistic", "exact E", "sample mean", "std. error", "z"], rows))
        avg_ll = float(model.log_likelihood(truth, data)) / args.n
        report["average_log_likelihood"] = avg_ll
        print(f"\naverage log-likelihood per datum at the truth: {avg_ll:.5f} (exact log Z)")
    if args.json:
        atomic_write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0


def _progress(name, result, seconds) -> None:
    """Each method's time on stderr as it finishes, when stderr is a terminal."""
    if sys.stderr.isatty():
        done = "skipped" if result is None else f"{seconds:.1f} s"
        print(f"  {name}: {done}", file=sys.stderr)


def _cell(est, lo, hi) -> str:
    return f"{est:.4f} [{lo:.4f}, {hi:.4f}]"


TOY_SETS = ("two_moons", "rings", "gaussian_mixture")


def _observed(name: str):
    """``(data, node attributes, label)`` of ``--data``: a shipped dataset or a file."""
    from bayesgen import datasets

    if name in datasets.NETWORKS:
        net = datasets.network(name)
        return net.adjacency[None], net.attributes, name
    if name in datasets.NAMES:
        return datasets.load(name), {}, name
    if "." not in name and "/" not in name:
        raise ParameterError(
            f"--data {name!r} is neither a toy set ({', '.join(TOY_SETS)}), a shipped "
            f"dataset ({', '.join(datasets.NAMES)}) nor a file (.npy, .npz, .csv, .graphml, "
            ".edgelist)"
        )
    data, attributes = datasets.read_data(name)
    return data, attributes, name


def _as_data(data: np.ndarray, model) -> np.ndarray:
    """A file's rows as the model's data: one datum per row, flattened rows reshaped to the
    datum's shape (a CSV of 16 columns for a 4 x 4 lattice; one column for scalar data)."""
    event = model.support.event_shape
    if data.ndim == 2 and data.shape[1] == int(np.prod(event)) and data.shape[1:] != event:
        return data.reshape(data.shape[0], *event)
    if data.ndim == 1 and event and data.shape == event:
        return data[None]
    return data


def cmd_compare(args) -> int:
    observed = None
    if args.data and args.data not in TOY_SETS:
        if args.truth:
            raise ParameterError(
                "--data and --truth exclude each other: observed data have no truth"
            )
        observed = _observed(args.data)
    options = {}
    if observed is not None:
        data_array, attributes, _ = observed
        square = data_array.ndim == 3 and data_array.shape[1] == data_array.shape[2]
        options = {"num_nodes": data_array.shape[1] if square else None, "nodes": attributes}
    jax, model, truth, truth_text = _model_and_truth(args, 1, **options)
    from bayesgen.evaluation import compare

    methods = _methods(args.methods, model)
    key = jax.random.key(args.seed)
    if observed is not None:
        data = model.validate(_as_data(observed[0], model))  # one line if it does not fit
        heldout, truth, truth_text = None, None, f"data={observed[2]}"
        args.n = int(data.shape[0])
    elif args.data:
        from bayesgen.models.ebm2d import toy_data
        from bayesgen.support import Reals

        if args.truth:
            raise ParameterError("--data and --truth exclude each other: toy data have no truth")
        if not (isinstance(model.support, Reals) and model.support.event_shape == (2,)):
            raise ParameterError(
                f"--data {args.data} is a 2-D toy set, for models on R^2 (ebm2d); {model!r} has "
                f"{model.support.name} of shape {model.support.event_shape}"
            )
        data = toy_data(args.data, jax.random.fold_in(key, 0), args.n)
        heldout = toy_data(args.data, jax.random.fold_in(key, 1), args.n)
        truth, truth_text = None, f"data={args.data}"
    else:
        data = model.sample(jax.random.fold_in(key, 0), truth, args.n)
        heldout = model.sample(jax.random.fold_in(key, 1), truth, args.n)
    from bayesgen._engine import device_description

    device = device_description()
    print(f"bayesgen compare: {model!r}, {truth_text}, n={args.n}, seed={args.seed} ({device})")
    many = sum(int(np.prod(p.shape)) for p in model.params_spec) > MAX_SHOWN_PARAMETERS
    cmp = compare(
        model,
        data,
        methods,
        truth=truth,
        key=jax.random.fold_in(key, 2),
        heldout=heldout,
        num_warmup=args.warmup,
        num_samples=args.draws,
        num_chains=args.chains,
        progress=False,
        on_result=_progress,
        uncertainty="none" if many else None,  # no columns to show them in
        num_bootstrap=args.bootstrap,
    )
    t = cmp.table
    shown = [] if many else cmp.parameters  # one decision: the footnote below says why
    header = ["method", "side", "Z"]
    header += [f"{p} [95% interval]" for p in shown]
    held = "heldout loglik" in t.columns  # observed data come with no held-out set
    header += ["held-out loglik"] if held else []
    header += ["KSD", "compile s", "run s", "grad evals", "ESS/s", "R-hat"]
    header += ["ok"]
    rows = []
    for _, r in t.iterrows():
        row = [r["method"], r["side"], r["normalizer"].split(":")[0]]
        row += [_cell(r[p], r[f"{p} lo"], r[f"{p} hi"]) for p in shown]
        if held:
            ll = f"{r['heldout loglik']:.4f}"
            if r["heldout loglik se"] > 0:
                ll += f" ± {r['heldout loglik se']:.4f}"
            row.append(ll)
        ksd = "" if np.isnan(r["ksd"]) else f"{r['ksd']:.4f}"
        row += [ksd, f"{r['compile s']:.1f}", f"{r['run s']:.1f}", str(r["grad evals"])]
        row += ["" if np.isnan(r["ess/s"]) else f"{r['ess/s']:.0f}"]
        row += ["" if np.isnan(r["max r-hat"]) else f"{r['max r-hat']:.3f}"]
        row += ["yes" if r["ok"] else "NO"]
        rows.append(row)
    print()
    print(_table(header, rows))
    for _, r in t.iterrows():
        if not r["ok"]:
            print(f"not ok: {r['method']}: {r['why']}")
    if not shown:
        print(
            f"({len(cmp.parameters)} parameters: estimates are in --json; frequentist "
            "standard errors were not computed)"
        )
    print("\nhow each method handled Z:")
    for _, r in t.iterrows():
        print(f"  {r['method']}: {r['normalizer']}")
    for name, why in cmp.skipped.items():
        print(f"skipped {name}: {why}")
    if args.json:
        cmp.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        if model.plots_densities:
            cmp.plot_densities(model, data, args.plot)
        else:
            cmp.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0


MAX_SHOWN_PARAMETERS = 8  # more and the table shows no per-parameter columns


def _methods(text: str | None, model) -> list | None:
    """The methods named in ``--methods``; a name the model configures in its
    ``default_methods`` (the network energy's schedules) is that configured estimator."""
    if not text:
        return None
    from bayesgen.models.spec import method_spec

    return [method_spec(m.strip(), model) for m in text.split(",") if m.strip()]


def cmd_study(args) -> int:
    if args.out:  # a folder of checkpoints: it must take new files
        _check_writable(f"{args.out}/.chunk")
    jax, model, truth, truth_text = _model_and_truth(args, 1)
    from bayesgen.evaluation import applicable_methods, coverage_study

    methods = _methods(args.methods, model) or applicable_methods(model)
    from bayesgen._engine import device_description

    device = device_description()
    print(
        f"bayesgen study: {model!r}, {truth_text}, n={args.n}, {args.replicates} replicates, "
        f"seed={args.seed} ({device})"
    )
    study = coverage_study(
        model,
        truth,
        methods,
        n=args.n,
        replicates=args.replicates,
        key=jax.random.key(args.seed),
        level=args.level,
        num_warmup=args.warmup,
        num_samples=args.draws,
        num_chains=args.chains,
        num_bootstrap=args.bootstrap,
        on_result=_progress,
        out=args.out,
        chunk_size=args.chunk,
    )
    rows = []
    for _, r in study.table.iterrows():
        cov = "" if np.isnan(r["coverage"]) else f"{r['coverage']:.3f} ± {r['coverage se']:.3f}"
        p = "" if np.isnan(r["binomial p"]) else f"{r['binomial p']:.3f}"
        width = "" if np.isnan(r["mean width"]) else f"{r['mean width']:.4f}"
        rows.append(
            [
                r["method"],
                r["side"],
                r["parameter"],
                f"{r['truth']:.4f}",
                cov,
                p,
                f"{r['bias']:+.4f} ± {r['bias se']:.4f}",
                f"{r['rmse']:.4f}",
                width,
                f"{r['replicates ok']}/{r['finite']}",
                r["why"],
                f"{r['seconds']:.1f}",
            ]
        )
    header = ["method", "side", "parameter", "truth", f"coverage ({args.level:.0%})"]
    header += ["binomial p", "bias ± se", "rmse", "mean width", "ok/finite", "flagged by"]
    header += ["seconds"]
    print()
    print(_table(header, rows))
    for name, why in study.skipped.items():
        print(f"skipped {name}: {why}")
    if args.json:
        study.to_json(args.json)
        print(f"wrote {args.json}")
    return 0


def _sweep_summary(table) -> None:
    """A cell-by-cell summary on stdout: per cell and method, the mean RMSE and coverage
    over the parameters, how many replicates passed their own checks (of those that stayed
    finite) and which checks failed, and the seconds."""
    t = table.table
    if t.empty:
        print("no finished cells")
        return
    rows = []
    for _, g in t.groupby("cell", sort=False):
        r = g.iloc[0]
        cov = g["coverage"].mean()
        rows.append(
            [
                r["model"],
                r["shape"] or "",
                str(r["size"]),
                str(r["n"]),
                r["method"],
                str(r["replicates"]),
                str(r["seed"]),
                f"{g['rmse'].mean():.4f}",
                "" if np.isnan(cov) else f"{cov:.3f}",
                f"{r['replicates ok']}/{r['finite']}",
                r["why"],
                f"{r['seconds']:.1f}",
            ]
        )
    header = ["model", "shape", "size", "n", "method", "replicates", "seed", "mean rmse"]
    print(_table([*header, "mean coverage", "ok/finite", "flagged by", "seconds"], rows))


def _sweep_outputs(args, table) -> None:
    for skip in table.skipped:
        print(f"skipped {skip['method']} in {skip['cell']}: {skip['why']}")
    for name, why in table.damaged.items():
        print(f"damaged cell file {name} left out: {why}", file=sys.stderr)
    if args.json:
        table.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        table.plot(args.plot)
        print(f"wrote {args.plot}")


def cmd_sweep(args) -> int:
    from bayesgen.evaluation import collect, sweep

    _check_writable(args.json, args.plot)
    if args.collect is not None:
        if args.grid or args.out or args.ray:
            raise ParameterError("--collect DIR takes no grid, --out or --ray")
        _setup_jax(None)
        table = collect(args.collect)
        print(f"bayesgen sweep: {table.cells} cells in {args.collect}")
        _sweep_summary(table)
        _sweep_outputs(args, table)
        return 0
    if not args.grid and args.ray and args.ray.endswith(".toml"):
        raise ParameterError(
            f"--ray took {args.ray} for a cluster's address: put --ray after the grid file "
            "(or write --ray local)"
        )
    if not args.grid or not args.out:
        raise ParameterError("bayesgen sweep takes GRID.toml --out DIR (or --collect DIR)")
    _check_writable(f"{args.out}/.cell")
    _setup_jax(args.platform)
    done = sweep(
        args.grid,
        args.out,
        ray=args.ray,
        cpus_per_cell=args.cpus_per_cell,
        gpus_per_cell=args.gpus_per_cell,
        single_threaded=args.single_threaded,
    )
    where = "in this process" if args.ray is None else "on Ray"
    print(
        f"bayesgen sweep: {len(done.cells)} cells, {len(done.computed)} computed {where}, "
        f"{len(done.reused)} already in {args.out}, {len(done.failed)} failed "
        f"({done.seconds:.1f} s)"
    )
    _sweep_summary(done.merged)
    _sweep_outputs(args, done.merged)
    for stem, why in done.failed.items():
        print(f"bayesgen: cell {stem} failed: {why}", file=sys.stderr)
    return 1 if done.failed else 0


def _add_common(p, *, n: int, json_what: str, methods: bool, draws: int | None = None):
    """The flags the simulating commands share (model, data, seed, outputs, device)."""
    p.add_argument("model", help="a name from `bayesgen models`")
    p.add_argument("--shape", help="lattice LxM (ising) or dimension D (gaussian)")
    p.add_argument("--truth", help="parameters, e.g. beta=0.3,h=0.05 (defaults per model)")
    p.add_argument(
        "--terms", help="ergm's statistics, e.g. edges,triangles,gwesp(0.5),nodecov(wealth)"
    )
    p.add_argument("--n", type=int, default=n, help=f"data per dataset (default {n})")
    if methods:
        p.add_argument("--methods", help="comma-separated; default: every applicable method")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help=f"write {json_what} here (atomically; schema in README)")
    p.add_argument("--platform", choices=["cpu", "gpu", "tpu"])
    if draws is not None:
        p.add_argument("--warmup", type=int, default=draws, help="Bayesian warm-up per chain")
        p.add_argument("--draws", type=int, default=draws, help="Bayesian draws per chain")
        p.add_argument("--chains", type=int, default=4, help="Bayesian chains (default 4)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayesgen", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("models", help="the model zoo and how each handles its normaliser")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("simulate", help="exact log Z, simulated data and their summary")
    _add_common(p, n=500, json_what="the report", methods=False)
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("compare", help="methods of both sides on the same simulated data")
    _add_common(p, n=500, json_what="the comparison", methods=True, draws=1000)
    p.add_argument(
        "--plot",
        help="write the estimates-and-intervals plot here (png, pdf, svg); for ebm2d, the "
        "fitted densities side by side",
    )
    p.add_argument(
        "--data",
        metavar="NAME|FILE",
        help="fit these data instead of data simulated from --truth: a shipped dataset "
        "(florentine_marriage, florentine_business, karate_club, digits_bits, horse_kicks), a "
        "2-D toy set for models on R^2 (two_moons, rings, gaussian_mixture) or a file (.npy, "
        ".npz, .csv with one datum per row; .graphml or .edgelist for a network)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=100,
        help="refits of the parametric bootstrap where a method's standard errors are the "
        "bootstrap (contrastive divergence, one lattice); default 100",
    )
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("study", help="interval coverage over simulated replicate datasets")
    _add_common(p, n=300, json_what="the study", methods=True, draws=500)
    p.add_argument("--replicates", type=int, default=100, help="datasets (default 100)")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        help="refits per replicate where standard errors are the parametric bootstrap "
        "(pseudo-likelihood below 30 data, contrastive divergence); default 0: no intervals",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="write each method's replicates to DIR as they finish (in chunks of --chunk); a "
        "rerun with the same arguments resumes, reading what is there",
    )
    p.add_argument(
        "--chunk", type=int, help="replicates per checkpoint with --out (default: all at once)"
    )
    p.set_defaults(func=cmd_study)
    p = sub.add_parser(
        "sweep",
        help="coverage studies over a grid of models, sizes, n and methods (resumable; Ray)",
    )
    p.add_argument("grid", nargs="?", metavar="GRID.toml", help="the grid file (see the README)")
    p.add_argument("--out", metavar="DIR", help="the folder of cell files; a rerun resumes")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run one Ray task per cell: alone, on a local Ray cluster started for the run; "
        "with ADDRESS, on that running cluster (needs the extra: pip install "
        "'bayesgen[distributed]')",
    )
    p.add_argument(
        "--cpus-per-cell", type=float, default=1, help="CPUs of each Ray task (default 1)"
    )
    p.add_argument(
        "--gpus-per-cell",
        type=float,
        help="GPUs of each Ray task (default: the cluster's GPUs shared evenly)",
    )
    p.add_argument(
        "--single-threaded",
        action="store_true",
        help="Ray workers run XLA's Eigen single-threaded: less contention when cells fill "
        "every core; rounding differs from an in-process run at about 1e-10",
    )
    p.add_argument("--collect", metavar="DIR", help="merge the cell files in DIR into one table")
    p.add_argument("--json", help="write the merged table here (schema bayesgen.sweep/1)")
    p.add_argument("--plot", help="write RMSE, coverage and seconds against n and size here")
    p.add_argument("--platform", choices=["cpu", "gpu", "tpu"])
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except BayesgenError as err:
        print(f"bayesgen: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an output that became unwritable after the early check
        print(f"bayesgen: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bayesgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
