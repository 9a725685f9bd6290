"""Sweeps: a grid of coverage studies, one atomically written file per cell. A Ray sweep
(one task per cell on a local cluster) equals the in-process sweep cell by cell; a driver
killed with SIGKILL leaves its finished cells, and a rerun computes only the missing ones;
a damaged cell file is recomputed; a bad grid is one line on stderr and exit 2 before any
work."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesgen.cli import main
from bayesgen.evaluation import SWEEP_SCHEMA, collect, sweep, sweep_cells

# 6 cells: 3 lattices x 2 methods, 2 replicates of 20 data each (seconds apiece)
SMALL = {
    "model": "ising",
    "shape": ["2x2", "2x3", "3x3"],
    "n": 20,
    "methods": ["exact_mle", "pseudo_likelihood"],
    "replicates": 2,
    "seed": 0,
}
# the grid: 2 models x 3 sizes x 3 methods x 2 sample sizes = 36 cells (SMALL's
# cells among them: same configuration, same file)
BIG = {
    "model": ["ising", "boltzmann"],
    "shape": {"ising": ["2x2", "2x3", "3x3"], "boltzmann": [3, 4, 5]},
    "n": [20, 40],
    "methods": ["exact_mle", "pseudo_likelihood", "ratio_matching"],
    "replicates": 2,
    "seed": 0,
}


def toml(grid: dict) -> str:
    """A grid dict as TOML (the few forms these tests use)."""

    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    return "".join(f"{k} = {value(v)}\n" for k, v in grid.items())


def assert_same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Cell by cell, every field equal (numbers to 1e-10 relative) but the seconds."""
    key = ["cell", "parameter"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    assert list(a["cell"]) == list(b["cell"]) and list(a.columns) == list(b.columns)
    for col in a.columns:
        if col == "seconds":
            continue
        if pd.api.types.is_float_dtype(a[col]):
            np.testing.assert_allclose(a[col], b[col], rtol=1e-10, atol=0, err_msg=col)
        else:
            assert list(a[col]) == list(b[col]), col


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """SMALL swept in this process: the reference every other run must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    done = sweep(SMALL, out, progress=False)
    return out, done


@pytest.mark.slow
def test_cells_are_files_named_by_their_configuration(reference, tmp_path, capsys):
    out, done = reference
    assert len(done.cells) == 6 and done.computed == done.cells and not done.failed
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{c}.json" for c in done.cells)  # nothing else left behind
    assert any(n.startswith("ising-2x3-n20-pseudo_likelihood-r2-s0-") for n in names)
    doc = json.loads((out / f"{done.cells[0]}.json").read_text())
    assert doc["schema"] == "bayesgen.coverage/1" and doc["cell"]["method"] == "exact_mle"
    assert doc["cell"]["model"] == "ising" and doc["cell"]["shape"] == "2x2"
    # the sweep's own table is the folder's, with each row's configuration
    table = collect(out)
    assert_same_table(table.table, done.table)
    t = table.table
    assert set(t["size"]) == {4, 6, 9} and set(t["parameter"]) == {"beta", "h"}
    assert set(t["method"]) == {"exact_mle", "pseudo_likelihood"} and len(t) == 12
    assert (t["n"] == 20).all() and (t["replicates"] == 2).all() and (t["parameters"] == 2).all()
    # a rerun finds every cell finished and computes nothing
    again = sweep(SMALL, out, progress=False)
    assert again.computed == [] and again.reused == done.cells
    # the CLI merges the folder into the sweep schema, and plots it
    capsys.readouterr()
    js, png = tmp_path / "sweep.json", tmp_path / "sweep.png"
    assert main(["sweep", "--collect", str(out), "--json", str(js), "--plot", str(png)]) == 0
    printed = capsys.readouterr().out
    # each cell's line carries its verdicts: replicates ok of those finite, checks failed
    assert "ok/finite" in printed and "flagged by" in printed
    for _, r in t.groupby("cell").first().iterrows():
        assert f"{r['replicates ok']}/{r['finite']}" in printed
    merged = json.loads(js.read_text())
    assert merged["schema"] == SWEEP_SCHEMA and merged["cells"] == 6 and not merged["damaged"]
    assert len(merged["rows"]) == 12 and {"model", "shape", "size", "n", "seed"} <= set(
        merged["rows"][0]
    )
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_damaged_cell_is_recomputed_and_the_rest_kept(reference, tmp_path):
    ref, done = reference
    out = tmp_path / "cells"
    shutil.copytree(ref, out)
    truncated, keyless = out / f"{done.cells[1]}.json", out / f"{done.cells[4]}.json"
    truncated.write_text(truncated.read_text()[:200])  # a write cut short
    doc = json.loads(keyless.read_text())
    del doc["rows"]
    keyless.write_text(json.dumps(doc))
    damaged = collect(out).damaged
    assert set(damaged) == {truncated.name, keyless.name}
    assert "not valid JSON" in damaged[truncated.name] and "rows" in damaged[keyless.name]
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p not in (truncated, keyless)}
    again = sweep(SMALL, out, progress=False)
    assert sorted(again.computed) == sorted([truncated.stem, keyless.stem])
    assert {p: (out / p).stat().st_mtime_ns for p in kept} == kept  # the others untouched
    assert_same_table(again.table, done.table)
    assert not collect(out).damaged


def test_grid_forms(reference):
    """Axes given once or by model name; truth as one table, by model, or a list."""
    cells = sweep_cells({**SMALL, "truth": [{"beta": 0.2}, {"beta": 0.3, "h": 0.1}]})
    assert len(cells) == 12  # the truth axis doubles the cells
    assert {json.dumps(c["truth"], sort_keys=True) for c in cells} == {
        '{"beta": 0.2}',  # naming beta alone is the zero-field Ising, as with --truth
        '{"beta": 0.3, "h": 0.1}',
    }
    cells = sweep_cells({**BIG, "truth": {"boltzmann": {"h": 0.1}}, "n": {"ising": 30}})
    assert len(cells) == 3 * 3 * 1 + 3 * 3 * 1 * 1  # boltzmann keeps the default n
    assert {c["n"] for c in cells if c["model"] == "boltzmann"} == {300}
    b = next(c for c in cells if c["model"] == "boltzmann" and c["shape"] == "4")
    assert b["truth"]["h"] == [0.1] * 4 and b["size"] == 4  # a number fills the vector


def _grid_file(tmp_path, text: str) -> str:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "ising"\nbogus = 1\n', "unknown key 'bogus'"),
        ('model = "ising"\nn = "20"\n', "n takes positive integers"),
        ('model = "ising"\nreplicates = [2, 1]\n', "replicates takes integers >= 2"),
        ('model = ["ising", "potts"]\n', "unknown model 'potts'"),
        ('model = "ising"\nmethods = ["exact_mle", "nope"]\n', "unknown"),
        ('model = "ising"\nshape = "2y2"\n', "shape must look like"),
        ('model = "boltzmann"\nshape = "2x2"\n', "boltzmann takes a shape V"),
        ('model = "ising"\nlevel = 2.0\n', "level must be in (0, 1)"),
        ('model = ["ising", "boltzmann"]\ntruth = {boltzmann = {gamma = 1}}\n', "'gamma'"),
        ('model = "ising"\ntruth = {beta = "x"}\n', "is not a number"),
        ('model = "ising"\nshape = {potts = "2x2"}\n', "potts is not a model of the grid"),
        ("model = [\n", "not valid TOML"),
        ('n = 20\nmethods = "exact_mle"\n', "no model"),
    ],
)
def test_a_bad_grid_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    grid, out = _grid_file(tmp_path, text), tmp_path / "out"
    capsys.readouterr()
    assert main(["sweep", grid, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not list(out.glob("*.json"))  # checked whole before any work


def test_ray_without_the_extra_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    grid = _grid_file(tmp_path, toml(SMALL))
    capsys.readouterr()
    assert main(["sweep", grid, "--out", str(tmp_path / "out"), "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'bayesgen[distributed]'" in err[0]


# -- on Ray ----------------------------------------------------------------------------------
def _session_processes(sid: int) -> dict[int, str]:
    """Live processes of session ``sid`` (not zombies): ``{pid: command}``."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out[int(proc.name)] = cmd.strip() or stat[: stat.rindex(")") + 1]
    return out


def _end_session(sid: int) -> dict[int, str]:
    """Kill what is left of session ``sid``; return what was left."""
    left = _session_processes(sid)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _session_processes(sid)
    return left


def _cli(*args) -> subprocess.Popen:
    """The CLI in a new session (so that every Ray process it starts can be found)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bayesgen.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow
def test_a_killed_ray_driver_loses_only_running_cells(reference, tmp_path):
    done = reference[1]
    grid, out = _grid_file(tmp_path, toml(SMALL)), tmp_path / "cells"
    driver = _cli("sweep", grid, "--out", str(out), "--ray")
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("*.json")) and driver.poll() is None:
            assert time.monotonic() < deadline, "no cell finished in 240 s"
            time.sleep(0.05)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        left = _end_session(driver.pid)
    # Ray's own cluster processes (GCS, raylet, workers) die with their driver; two idle
    # agents may outlive it (observed with Ray 2.60), which _end_session ends
    assert not [c for c in left.values() if "raylet" in c or "gcs_server" in c], left
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert 0 < len(written) < 6, written  # killed midway
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # nothing half-written
    rerun = _cli("sweep", grid, "--out", str(out), "--ray")
    try:
        stdout, stderr = rerun.communicate(timeout=300)
    finally:
        left = _end_session(rerun.pid)
    assert rerun.returncode == 0, stderr
    assert not left, left  # a driver that finishes stops its local cluster
    assert f"{6 - len(written)} computed on Ray, {len(written)} already in" in stdout
    assert stderr.count("cells done") == 6 - len(written)  # a line per finished cell
    assert {p: (out / p).stat().st_mtime_ns for p in written} == written
    assert_same_table(collect(out).table, done.table)  # Ray's cells equal in-process ones


@pytest.mark.slow
def test_a_ray_sweep_equals_the_in_process_sweep(reference, tmp_path):
    """The issue's grid (36 cells) on a local Ray cluster and in this process, cell by cell;
    the in-process one resumes from the reference's 6 cells."""
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    shutil.copytree(reference[0], local)
    here = sweep(BIG, local, progress=False)
    assert len(here.cells) == 36 and len(here.reused) == 6 and not here.failed
    there = sweep(BIG, on_ray, ray=True, progress=False)
    assert len(there.computed) == 36 and not there.failed
    assert_same_table(there.table, here.table)
    assert set(there.table["size"]) == {3, 4, 5, 6, 9}
