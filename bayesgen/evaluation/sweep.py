"""Sweeps: coverage studies over a grid of models, sizes, truths, sample sizes and methods,
in this process or one Ray task per cell, resumable cell by cell.

A grid names the axes ``model``, ``shape``, ``truth``, ``n``, ``methods``, ``replicates``
and ``seed``, any of them a list; the cells are their product, and every cell is one
:func:`bayesgen.coverage_study` of ONE method::

    model = ["ising", "boltzmann"]
    shape = {ising = ["2x2", "3x3"], boltzmann = [3, 4]}   # a table keyed by model name
    truth = {ising = {beta = 0.3, h = 0.05}}                # default truth for boltzmann
    n = [20, 40]
    methods = ["exact_mle", "pseudo_likelihood"]
    replicates = 50
    seed = 0
    level = 0.95      # optional scalars: level, warmup, draws, chains, bootstrap, chunk

``shape``, ``n``, ``methods``, ``replicates`` and ``seed`` may each be a table keyed by model
name (a model missing from it gets the default); ``truth`` is one table ``{name = value}``
for every model, a table of such tables keyed by model name, or a list of tables (another
axis). A truth value is a number (it fills a vector, times the identity for a matrix, as
``--truth`` does) or a list. Defaults are ``bayesgen study``'s: the model's shape and truth,
``n = 300``, every applicable method, 100 replicates, seed 0.

Each finished cell is written atomically to the output folder as the coverage study's JSON
(schema ``bayesgen.coverage/1``) plus ``cell``, its configuration, under a name derived from
it (``ising-2x2-n20-exact_mle-r50-s0-<hash>.json``, the hash of the whole configuration). A
rerun skips the cells whose file reads back with the same configuration and recomputes a
damaged one, so an interrupted sweep loses only the cells that were running. With ``chunk``
a cell's replicates are also checkpointed (``coverage_study(out=..., chunk_size=chunk)``)
in ``.chunks/`` of the folder, which must then be shared with the Ray workers.

:func:`collect` merges a folder's cells into one table: the coverage rows, each with its
cell's configuration (``model``, ``shape``, ``size``: values per datum, ``parameters``,
``n``, ``replicates``, ``seed``), written as JSON of schema ``bayesgen.sweep/1``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import sys
import time
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayesgen._io import JsonReport, atomic_save_figure, atomic_write_json
from bayesgen.errors import BayesgenError, MethodError, ParameterError
from bayesgen.tables import records

__all__ = ["SWEEP_SCHEMA", "Sweep", "SweepTable", "collect", "run_cell", "sweep", "sweep_cells"]

SWEEP_SCHEMA = "bayesgen.sweep/1"
AXES = ("model", "shape", "truth", "n", "methods", "replicates", "seed")
SETTINGS = {  # the optional scalars: (type, default), as `bayesgen study` has them
    "level": (float, 0.95),
    "warmup": (int, 500),
    "draws": (int, 500),
    "chains": (int, 4),
    "bootstrap": (int, 0),
    "chunk": (int, None),
}
DEFAULTS = {"n": 300, "replicates": 100, "seed": 0}
CONFIG_FIELDS = ("model", "shape", "size", "parameters", "n", "replicates", "seed")  # in rows
RAY_EXTRA = "pip install 'bayesgen[distributed]'"


# -- the grid --------------------------------------------------------------------------------
def _load(grid) -> tuple[dict, str]:
    """The grid as a dict, and its name for errors: a dict, or a TOML file's path."""
    if isinstance(grid, Mapping):
        return dict(grid), "grid"
    if not isinstance(grid, str | os.PathLike):
        raise ParameterError(f"a grid is a dict or a TOML file's path; got {type(grid).__name__}")
    try:
        return tomllib.loads(Path(grid).read_text()), f"grid {grid}"
    except OSError as err:
        raise ParameterError(f"cannot read grid {grid}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"grid {grid} is not valid TOML: {err}") from None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _values(value, key: str, where: str, check, kind: str) -> list:
    """``value`` (one, or a non-empty list) as a list whose every element passes ``check``."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ParameterError(f"{where}: {key} is an empty list")
    for v in items:
        if not check(v):
            raise ParameterError(f"{where}: {key} takes {kind}; got {v!r}")
    return items


def _per_model(value, key: str, where: str, models: list, default):
    """``{model name: value}`` of an axis given once for all or as a table by model name."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(models))
        if unknown:
            raise ParameterError(
                f"{where}: {key} is a table by model name, and {', '.join(unknown)} is not a "
                f"model of the grid ({', '.join(models)})"
            )
        return {m: value.get(m, default) for m in models}
    return dict.fromkeys(models, default if value is None else value)


def _truth_tables(value) -> list | None:
    """``value`` as a list of truth tables ``{name: number or list}``, or None if it is not
    one table or a non-empty list of them."""
    items = value if isinstance(value, list) else [value]
    flat = [isinstance(t, dict) and not any(isinstance(x, dict) for x in t.values()) for t in items]
    return items if items and all(flat) else None


def _tables_given(v) -> bool:
    """Whether a truth entry is a table or a list of tables (so: one per model)."""
    return isinstance(v, dict) or (isinstance(v, list) and bool(v) and isinstance(v[0], dict))


def _truths(value, where: str, models: list) -> dict:
    """``{model name: [truth table, ...]}`` from the grid's ``truth``: one table, a list of
    tables, or a table of either keyed by model name."""
    if value is None:
        return {m: [{}] for m in models}
    if isinstance(value, dict) and any(map(_tables_given, value.values())):
        out = {}
        for m, v in _per_model(value, "truth", where, models, {}).items():
            out[m] = _truth_tables(v)
            if out[m] is None:
                raise ParameterError(
                    f"{where}: truth.{m} must be a table name = value or a list of them; got {v!r}"
                )
        return out
    tables = _truth_tables(value)
    if tables is None:
        raise ParameterError(
            f"{where}: truth must be a table name = value, a table of them by model name, or "
            f"a list of tables; got {value!r}"
        )
    return dict.fromkeys(models, tables)


def _plan(grid) -> tuple[list[dict], dict, dict]:
    """Every cell's configuration, the models built to check them (``{(name, shape, truth
    names): model}``, built once each) and the settings; any error is one ParameterError
    before any work."""
    import jax

    from bayesgen.evaluation.compare import applicable_methods, resolve
    from bayesgen.models.spec import make_model, method_spec, parse_shape, shape_text, truth_params

    grid, where = _load(grid)
    unknown = sorted(set(grid) - set(AXES) - set(SETTINGS))
    if unknown:
        raise ParameterError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; a grid takes "
            f"{', '.join(AXES)} and {', '.join(SETTINGS)}"
        )
    if "model" not in grid:
        raise ParameterError(f'{where}: no model; e.g. model = ["ising", "boltzmann"]')
    settings = {}
    for key, (kind, default) in SETTINGS.items():
        v = grid.get(key, default)
        good = _is_int(v) if kind is int else isinstance(v, float | int) and not isinstance(v, bool)
        if v is not None and not good:
            raise ParameterError(f"{where}: {key} takes one {kind.__name__}; got {v!r}")
        settings[key] = v if v is None or kind is int else float(v)
    if not 0 < settings["level"] < 1:
        raise ParameterError(f"{where}: level must be in (0, 1); got {settings['level']}")
    for key, low in (("warmup", 0), ("draws", 1), ("chains", 1), ("bootstrap", 0), ("chunk", 1)):
        if settings[key] is not None and settings[key] < low:
            raise ParameterError(f"{where}: {key} must be at least {low}; got {settings[key]}")
    models = _values(grid["model"], "model", where, lambda v: isinstance(v, str), "model names")
    if len(set(models)) < len(models):
        raise ParameterError(f"{where}: model names a model twice: {models}")
    shape_ok = lambda v: isinstance(v, str) or _is_int(v)  # noqa: E731
    axes = {"truth": _truths(grid.get("truth"), where, models)}
    for key, check, kind in (
        ("shape", lambda v: v is None or shape_ok(v), 'shapes such as "4x4" or 3'),
        ("n", lambda v: _is_int(v) and v >= 1, "positive integers"),
        ("methods", lambda v: v is None or isinstance(v, str), "method names"),
        ("replicates", lambda v: _is_int(v) and v >= 2, "integers >= 2"),
        ("seed", lambda v: _is_int(v) and v >= 0, "integers >= 0"),
    ):
        per = _per_model(grid.get(key), key, where, models, DEFAULTS.get(key))
        axes[key] = {m: _values(v, key, where, check, kind) for m, v in per.items()}
    built, cells = {}, []
    x64 = bool(jax.config.jax_enable_x64)
    for name in models:
        for shape_value, truth_values in itertools.product(
            axes["shape"][name], axes["truth"][name]
        ):
            shape = parse_shape(shape_value, f"{where}: shape")
            key = (name, shape, tuple(sorted(truth_values)))
            if key not in built:
                try:
                    built[key] = make_model(name, shape, key[2])
                except BayesgenError as err:
                    raise ParameterError(f"{where}: {err}") from None
            model = built[key]
            try:
                truth = truth_params(truth_values, model, "truth")
            except BayesgenError as err:
                raise ParameterError(f"{where}: {name}: {err}") from None
            methods = axes["methods"][name]
            if methods == [None]:
                methods = [m if isinstance(m, str) else m[0] for m in applicable_methods(model)]
            for method in methods:
                try:
                    resolve(method_spec(method, model))
                except MethodError as err:
                    raise ParameterError(f"{where}: {err}") from None
            base = {
                "model": name,
                "shape": shape_text(shape),
                "model_repr": repr(model),
                "size": int(np.prod(model.support.event_shape, dtype=int)),
                "parameters": int(model.num_params),
                "truth": {k: np.asarray(v).tolist() for k, v in truth.items()},
            }
            for n, method, reps, seed in itertools.product(
                axes["n"][name], methods, axes["replicates"][name], axes["seed"][name]
            ):
                cells.append(
                    {
                        **base,
                        "n": n,
                        "method": method,
                        "replicates": reps,
                        "seed": seed,
                        **{k: v for k, v in settings.items() if k != "chunk"},
                        "float64": x64,
                    }
                )
    names = [cell_name(c) for c in cells]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ParameterError(f"{where}: the grid has the same cell twice ({twice})")
    return cells, built, settings


def sweep_cells(grid) -> list[dict]:
    """The configurations of ``grid``'s cells (a dict as a TOML file reads, or the file's
    path), in order, after checking the whole grid: every model is built once and every
    truth checked against it.

    Raises:
      ParameterError: an unknown key, a value of the wrong type, an unknown model or
        method, a truth naming a parameter the model lacks (the message names the key).
    """
    return _plan(grid)[0]


def cell_name(config: dict) -> str:
    """The file stem of a cell: a readable prefix and a hash of its whole configuration,
    e.g. ``ising-4x4-n100-pseudo_likelihood-r50-s0-3f2a9c41d0``."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    prefix = "-".join(
        [
            config["model"],
            config["shape"] or "default",
            f"n{config['n']}",
            config["method"],
            f"r{config['replicates']}",
            f"s{config['seed']}",
        ]
    )
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", prefix) + f"-{digest}"


# -- one cell --------------------------------------------------------------------------------
def run_cell(config: dict, *, models: dict | None = None, chunk=None, chunk_dir=None) -> dict:
    """One cell: the coverage study of ``config`` (one of :func:`sweep_cells`), as the
    JSON document its file holds (the study's ``to_dict()`` plus ``cell``: the
    configuration, and ``wall seconds``). The in-process sweep and every Ray task call this.

    ``models`` (``{(name, shape, truth names): model}``, a dict the caller owns) shares the
    models, and so their compiled code, between the cells of one run; ``chunk`` and
    ``chunk_dir`` checkpoint the cell's replicates (``coverage_study``'s ``chunk_size`` and
    ``out``).
    """
    import jax

    from bayesgen.evaluation.studies import coverage_study
    from bayesgen.models.spec import make_model, method_spec, parse_shape

    if bool(jax.config.jax_enable_x64) != config["float64"]:
        raise BayesgenError(
            f"cell {cell_name(config)} was planned with float64 "
            f"{'on' if config['float64'] else 'off'}; this process has it the other way"
        )
    key = (config["model"], parse_shape(config["shape"]), tuple(sorted(config["truth"])))
    models = {} if models is None else models
    if key not in models:
        models[key] = make_model(*key)
    model = models[key]
    if repr(model) != config["model_repr"]:
        raise BayesgenError(
            f"cell {cell_name(config)} is {config['model_repr']}, but this bayesgen builds "
            f"{model!r}: the workers run another version"
        )
    truth = model.check_params(config["truth"])
    t0 = time.perf_counter()
    study = coverage_study(
        model,
        truth,
        [method_spec(config["method"], model)],
        n=config["n"],
        replicates=config["replicates"],
        key=jax.random.key(config["seed"]),
        level=config["level"],
        num_warmup=config["warmup"],
        num_samples=config["draws"],
        num_chains=config["chains"],
        num_bootstrap=config["bootstrap"],
        out=chunk_dir,
        chunk_size=chunk,
    )
    return {**study.to_dict(), "cell": config, "wall seconds": time.perf_counter() - t0}


def _ray_cell(config: dict, chunk, chunk_dir) -> dict:
    """The Ray task: :func:`run_cell` in a worker, with the driver's float64 setting."""
    import jax

    jax.config.update("jax_enable_x64", bool(config["float64"]))
    return run_cell(config, chunk=chunk, chunk_dir=chunk_dir)


def _read_cell(path: Path, config: dict | None = None) -> tuple[dict | None, str]:
    """A cell's document read back, or None and why it is unusable (missing, not JSON,
    missing keys, another configuration than ``config``)."""
    if not path.exists():
        return None, "missing"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return None, f"not valid JSON ({err})"
    if not isinstance(doc, dict) or not isinstance(doc.get("cell"), dict):
        return None, "not a sweep cell (no 'cell' configuration)"
    from bayesgen.evaluation.studies import COVERAGE_SCHEMA

    missing = [k for k in ("rows", "skipped", "schema") if k not in doc]
    missing += [k for k in CONFIG_FIELDS if k not in doc["cell"]]
    if missing:
        return None, f"missing {', '.join(missing)}"
    rows_ok = isinstance(doc["rows"], list) and all(isinstance(r, dict) for r in doc["rows"])
    if doc["schema"] != COVERAGE_SCHEMA or not rows_ok or not isinstance(doc["skipped"], dict):
        return None, "not a coverage study's document"
    if not (doc["rows"] or doc["skipped"]):
        return None, "no rows and nothing skipped"
    if config is not None and doc["cell"] != json.loads(json.dumps(config)):
        return None, "written for another configuration"
    return doc, ""


# -- the sweep -------------------------------------------------------------------------------
@dataclass
class Sweep:
    """What :func:`sweep` did: ``cells`` (every cell's file stem, in grid order),
    ``computed`` and ``reused`` (stems computed by this run, and found finished),
    ``failed`` (``{stem: reason}``), ``seconds``, and ``merged``: the grid's finished cells
    merged as :func:`collect` merges a folder (``table``: its pandas table)."""

    out: Path
    cells: list
    computed: list
    reused: list
    failed: dict
    seconds: float
    merged: SweepTable

    @property
    def table(self) -> pd.DataFrame:
        """The merged table: a row per cell, method and parameter (see :func:`collect`)."""
        return self.merged.table


def _human(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class _Progress:
    """One line on stderr: cells done, running and left, and the time left estimated from
    this run's rate; redrawn in place on a terminal, one line per finished cell otherwise."""

    def __init__(self, total: int, done: int, enabled: bool, stream=None):
        self.total, self.done, self.start_done = total, done, done
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.t0 = time.perf_counter()

    def line(self, running: int, last: str | None = None) -> str:
        left = self.total - self.done
        finished = self.done - self.start_done
        elapsed = time.perf_counter() - self.t0
        eta = "estimating" if not finished else f"about {_human(elapsed / finished * left)} left"
        eta = "" if not left else f", {eta}"
        text = f"sweep: {self.done}/{self.total} cells done, {running} running, {left} left{eta}"
        return text + (f" ({last})" if last else "")

    def show(self, running: int, last: str | None = None, *, finished: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            print("\r\033[K" + self.line(running, last), end="", file=self.stream, flush=True)
        elif finished:
            print(self.line(running, last), file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=self.stream, flush=True)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BayesgenError(
            f"sweeps on Ray need the optional extra `distributed`: {RAY_EXTRA}"
        ) from None
    return ray


def worker_env(cpus_per_cell: float, gpu_share: float, single_threaded: bool = False) -> dict:
    """The environment of a Ray worker running one cell, so that several JAX processes
    share a machine: OpenMP and BLAS threads sized to the cell's CPU share; with
    ``single_threaded``, XLA's Eigen single-threaded too (``--xla_cpu_multi_thread_eigen=
    false``: less contention when cells fill every core, but other kernels, whose rounding
    differs from an unrestricted process by about 1e-10 relative, enough to flip a check at
    its threshold); where a GPU is shared (``gpu_share`` < 1) no preallocation and a memory
    cap of the share (``XLA_PYTHON_CLIENT_PREALLOCATE``, ``XLA_PYTHON_CLIENT_MEM_FRACTION``);
    no GPU at all when the share is 0.

    XLA's own CPU thread pool cannot be sized by a flag in this JAX (0.12: it takes the
    process's CPU affinity; ``intra_op_parallelism_threads`` is not an XLA flag and is
    ignored), so by default a worker computes exactly what this process computes."""
    threads = str(max(1, int(cpus_per_cell)))
    env = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), threads)
    if single_threaded:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    if gpu_share <= 0:
        env["JAX_PLATFORMS"] = "cpu"
    elif gpu_share < 1:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{max(0.05, 0.9 * gpu_share):.2f}"
    return env


def _on_ray(pending, out, chunk, address, per_cell, progress, on_cell):
    """Run ``pending`` (``[(config, path)]``) as one Ray task each; every result is written
    by this driver as it arrives. Returns ``{stem: reason}`` of the cells that failed."""
    ray = _import_ray()
    cpus_per_cell, gpus_per_cell, single_threaded = per_cell
    started = not ray.is_initialized()
    if started:
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        with warnings.catch_warnings():  # JAX's warning on fork: Ray forks only to exec
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            if address in (True, "local"):
                ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
    try:
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        if cpus_per_cell > cpus:
            raise ParameterError(
                f"cpus_per_cell={cpus_per_cell} is more than the cluster's {cpus:g} CPUs"
            )
        if gpus_per_cell is None:
            gpus_per_cell = min(1.0, gpus * cpus_per_cell / cpus) if gpus else 0.0
        if gpus_per_cell > gpus:
            raise ParameterError(
                f"gpus_per_cell={gpus_per_cell} is more than the cluster's {gpus:g} GPUs"
            )
        slots = int(cpus // cpus_per_cell)
        if gpus_per_cell:
            slots = min(slots, int(gpus // gpus_per_cell))
        task = ray.remote(_ray_cell)
        options = {
            "num_cpus": cpus_per_cell,
            "num_gpus": gpus_per_cell,
            "runtime_env": {"env_vars": worker_env(cpus_per_cell, gpus_per_cell, single_threaded)},
        }
        refs = {}
        for config, path in pending:
            chunk_dir = None if chunk is None else str(out / ".chunks" / path.stem)
            ref = task.options(name=path.stem, **options).remote(config, chunk, chunk_dir)
            refs[ref] = (config, path)
        waiting, failed = list(refs), {}
        progress.show(min(slots, len(waiting)))
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            config, path = refs[done[0]]
            try:
                doc = ray.get(done[0])
            except BayesgenError as err:  # Ray's task error is also the cause's class
                cause = getattr(err, "cause", None) or err  # the worker's own exception
                failed[path.stem] = str(cause).strip().splitlines()[-1]
            except ray.exceptions.RayTaskError:
                raise  # a bug: its traceback
            except ray.exceptions.RayError as err:  # a worker or node lost
                failed[path.stem] = f"{type(err).__name__}: {str(err).splitlines()[0]}"
            else:
                on_cell(config, path, doc)
            progress.done += 1
            progress.show(min(slots, len(waiting)), path.stem, finished=True)
        return failed
    finally:
        if started:
            ray.shutdown()


def sweep(
    grid,
    out,
    *,
    ray=None,
    cpus_per_cell: float = 1,
    gpus_per_cell: float | None = None,
    single_threaded: bool = False,
    progress: bool = True,
) -> Sweep:
    """Run every cell of ``grid`` (a dict as a TOML grid file reads, or its path; see the
    module docstring) that ``out`` does not hold finished, writing each to ``out`` as it
    finishes; return what was done, with the grid's cells merged in ``table``.

    Args:
      grid: the grid (checked whole before any work: see :func:`sweep_cells`).
      out: the folder of cell files (created if missing); a rerun reuses the cells there.
      ray: None runs the cells in this process (models shared between cells, so compiled
        code is reused); True (or ``"local"``) starts a local Ray cluster for the run, on the
        CPUs this process may use, and stops it after; any other string is the address of a
        running cluster to join (``"auto"``, ``"ray://host:10001"``). A Ray session already
        initialised by the caller is used as it is. Every cell is one Ray task calling
        :func:`run_cell`, with ``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs (default:
        the cluster's GPUs shared evenly among the cells that fit its CPUs; 0 without GPUs)
        and the environment of :func:`worker_env` (``single_threaded``: XLA's Eigen
        single-threaded in every worker). bayesgen and the same JAX must be
        installed on the cluster's nodes; with ``chunk``, ``out`` must be a folder they
        share.
      progress: a progress line on stderr (cells done, running, left; time left).

    Raises:
      ParameterError: a bad grid (before any work), or more CPUs or GPUs per cell than the
        cluster has.
      BayesgenError: Ray requested but not installed (``pip install
        'bayesgen[distributed]'``).

    A cell that fails with a bayesgen error (or whose Ray worker is lost) is reported in
    ``failed`` and the others go on; a rerun retries it.
    """
    if ray not in (None, False):
        _import_ray()  # one line before any work when it is missing
    cells, models, settings = _plan(grid)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths = [out / f"{cell_name(c)}.json" for c in cells]
    docs, pending = {}, []
    for config, path in zip(cells, paths, strict=True):
        doc, _ = _read_cell(path, config)
        if doc is None:
            pending.append((config, path))
        else:
            docs[path.stem] = doc
    reused = list(docs)
    computed, chunk = [], settings["chunk"]
    bar = _Progress(len(cells), len(reused), progress)

    def on_cell(config, path, doc):
        atomic_write_json(path, doc)
        docs[path.stem] = doc
        computed.append(path.stem)
        if chunk is not None:
            shutil.rmtree(out / ".chunks" / path.stem, ignore_errors=True)
            with contextlib.suppress(OSError):  # the last cell's leaves the folder empty
                (out / ".chunks").rmdir()

    try:
        if ray in (None, False):
            failed = {}
            bar.show(min(1, len(pending)))
            for i, (config, path) in enumerate(pending):
                chunk_dir = None if chunk is None else out / ".chunks" / path.stem
                try:
                    doc = run_cell(config, models=models, chunk=chunk, chunk_dir=chunk_dir)
                except BayesgenError as err:
                    failed[path.stem] = str(err)
                else:
                    on_cell(config, path, doc)
                bar.done += 1
                bar.show(int(i + 1 < len(pending)), path.stem, finished=True)
        else:
            per_cell = (cpus_per_cell, gpus_per_cell, single_threaded)
            failed = _on_ray(pending, out, chunk, ray, per_cell, bar, on_cell)
    finally:
        bar.close()
    stems = [p.stem for p in paths]
    merged = _merge([(s, docs[s]) for s in stems if s in docs], {})
    return Sweep(
        out=out,
        cells=stems,
        computed=computed,
        reused=reused,
        failed=failed,
        seconds=time.perf_counter() - t0,
        merged=merged,
    )


# -- the merged table ------------------------------------------------------------------------
@dataclass
class SweepTable(JsonReport):
    """Cells merged into one table (:func:`collect`): ``table`` (the coverage rows, each
    with its cell's configuration and file stem, ``cell``), ``skipped`` (a row per cell and
    method that did not apply, with why), ``damaged`` (``{file: why}``, left out)."""

    table: pd.DataFrame
    skipped: list = field(default_factory=list)
    damaged: dict = field(default_factory=dict)
    cells: int = 0

    def to_dict(self) -> dict:
        return {
            "schema": SWEEP_SCHEMA,
            "cells": self.cells,
            "rows": records(self.table),
            "skipped": self.skipped,
            "damaged": self.damaged,
        }

    def plot(self, path=None):
        """RMSE, coverage and seconds against ``n`` (top) and against the size, values per
        datum (bottom): one line per method (and model, where there are several), each
        point the mean over the other axes' cells and the parameters; written atomically
        to ``path`` when given. Returns the matplotlib figure."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        t = self.table
        fig, axes = plt.subplots(2, 3, figsize=(13, 7), squeeze=False)
        if t.empty:
            fig.suptitle("no cells")
        else:
            per_cell = t.groupby("cell", sort=False).agg(
                model=("model", "first"),
                method=("method", "first"),
                n=("n", "first"),
                size=("size", "first"),
                rmse=("rmse", "mean"),
                coverage=("coverage", "mean"),
                seconds=("seconds", "first"),
            )
            several = per_cell["model"].nunique() > 1
            styles = dict(zip(per_cell["model"].unique(), itertools.cycle("-:-.--"), strict=False))
            for row, x in enumerate(("n", "size")):
                for col, (y, label) in enumerate(
                    (("rmse", "RMSE"), ("coverage", "coverage"), ("seconds", "seconds"))
                ):
                    ax = axes[row][col]
                    for (model, method), g in per_cell.groupby(["model", "method"], sort=False):
                        line = g.groupby(x)[y].mean().sort_index()
                        name = f"{method} ({model})" if several else method
                        ax.plot(line.index, line.values, styles[model], marker="o", label=name)
                    ax.set_xlabel("n" if x == "n" else "size (values per datum)")
                    ax.set_ylabel(label)
                    if y == "coverage" and np.isfinite(t["coverage"]).any():
                        ax.axhline(t["level"].iloc[0], color="grey", lw=0.8, ls="--")
                    if y == "seconds":
                        ax.set_yscale("log")
            axes[0][0].legend(fontsize="small")
        fig.tight_layout()
        if path is not None:
            atomic_save_figure(fig, path)
        return fig


def _rows(stem: str, doc: dict) -> list[dict]:
    cell = doc["cell"]
    head = {k: cell[k] for k in CONFIG_FIELDS}
    out = []
    for r in doc["rows"]:
        values = {k: (np.nan if v is None else v) for k, v in r.items()}
        out.append({**head, **values, "level": cell["level"], "cell": stem})
    return out


def _merge(docs: list, damaged: dict) -> SweepTable:
    rows, skipped = [], []
    for stem, doc in docs:
        rows.extend(_rows(stem, doc))
        cell = doc["cell"]
        for method, why in doc["skipped"].items():
            skipped.append(
                {**{k: cell[k] for k in CONFIG_FIELDS}, "method": method, "why": why, "cell": stem}
            )
    return SweepTable(table=pd.DataFrame(rows), skipped=skipped, damaged=damaged, cells=len(docs))


def collect(out) -> SweepTable:
    """Every cell file in the folder ``out`` merged into one :class:`SweepTable`, in the
    order of their names; a damaged file (truncated JSON, missing keys, not a cell) is left
    out and named in ``damaged`` with why.

    Raises:
      ParameterError: ``out`` is not a folder.
    """
    out = Path(out)
    if not out.is_dir():
        raise ParameterError(f"{out} is not a folder of sweep cells")
    docs, damaged = [], {}
    for path in sorted(out.glob("*.json")):
        doc, why = _read_cell(path)
        if doc is None:
            damaged[path.name] = why
        else:
            docs.append((path.stem, doc))
    return _merge(docs, damaged)
