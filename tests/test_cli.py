"""The command line: real output, one-line errors, atomic JSON."""

import json
import math
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.cli import main
from bayesgen.evaluation import resolve


def run(*args):
    """The console entry point in a new process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bayesgen.cli", *args], capture_output=True, text=True, timeout=300
    )


def error_lines(capsys, *args) -> list[str]:
    """``main(args)`` in this process (a new one per case cost 3-5 s of imports each):
    its exit status must be 2, and its stderr lines are returned."""
    capsys.readouterr()
    assert main(list(args)) == 2
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.slow
def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "Ising(shape=(4, 4))" in out and "exact: enumeration" in out and "gaussian" in out


def test_simulate_reports_exact_log_z_and_statistics(tmp_path, capsys):
    path = tmp_path / "out" / "report.json"
    assert main(["simulate", "ising", "--shape", "3x3", "--n", "200", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "exact: enumeration" in out and "exact: transfer matrix" in out
    report = json.loads(path.read_text())
    values = [r["value"] for r in report["log_normalizer"]]
    assert len(values) == 2 and abs(values[0] - values[1]) < 1e-10
    assert [s["name"] for s in report["statistics"]] == ["bonds", "magnetisation"]
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    # readable as any file the user writes (the temporary file it was renamed from is private)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "potts"], "unknown model 'potts'"),
        (["simulate", "ising", "--shape", "4x"], "--shape must look like"),
        (["compare", "ising", "--shape", "0x4"], "--shape sides must be positive"),
        (["compare", "ising", "--methods", "exact_mle,gibbs"], "unknown method 'gibbs'"),
        (["study", "ising", "--truth", "beta=abc"], "is not a number"),
        (["study", "ising", "--replicates", "1"], "replicates"),
        (["simulate", "ising", "--truth", "beta=abc"], "is not a number"),
        (["simulate", "ising", "--truth", "gamma=1"], "name=value pairs"),
        (["simulate", "ising", "--truth", "beta=nan"], "must be finite"),
        (["simulate", "ising", "--n", "0"], "--n must be at least 1"),
        (["simulate", "gaussian", "--truth", "precision=-1"], "positive-definite"),
        (["simulate", "vmf", "--shape", "3", "--truth", "mu=1:1:0"], "must be a unit vector"),
        (["simulate", "cmp", "--shape", "3"], "cmp takes no --shape"),
        (["simulate", "cmp", "--truth", "rate=4,nu=-1"], "outside its domain"),
        (["compare", "ising", "--data", "two_moons"], "for models on R^2"),
        (["compare", "ebm2d", "--data", "spirals"], "neither a toy set"),
        (["compare", "ising", "--data", "no/such.npy"], "cannot read no/such.npy: no such file"),
        (["compare", "ising", "--data", "x.parquet"], "is not one of .npy, .npz, .csv"),
        (["compare", "ising", "--data", "horse_kicks"], "data must have shape (n, 4, 4)"),
        (["compare", "ergm", "--terms", "edges,triads"], "unknown ERGM term 'triads'"),
        (["compare", "ising", "--terms", "edges"], "--terms is for ergm"),
        (["compare", "ebm2d", "--data", "rings", "--truth", "w3=1"], "exclude each other"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_errors_are_one_line_on_stderr(args, message, capsys):
    lines = error_lines(capsys, *args)
    assert len(lines) == 1, lines
    assert lines[0].startswith("bayesgen: error:") and message in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "ising", "--truth", "beta=nan"], "must be finite"),  # from the package
        (["frobnicate"], "invalid choice"),  # from the argument parser
    ],
)
def test_the_console_command_prints_one_line_and_no_traceback(args, message):
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_compare_on_the_sphere(capsys):
    args = ["compare", "vmf", "--shape", "3", "--truth", "mu=0.6:0:0.8,kappa=5", "--n", "300"]
    assert main([*args, "--methods", "exact_mle,score_matching"]) == 0
    out = capsys.readouterr().out
    assert "exact_mle" in out and "score_matching" in out and "mu[2]" in out


@pytest.mark.slow
def test_compare_on_counts(capsys):
    args = ["compare", "cmp", "--truth", "rate=4,nu=0.75", "--n", "300"]
    assert main([*args, "--methods", "exact_mle,discrete_fisher"]) == 0
    out = capsys.readouterr().out
    assert "discrete_fisher" in out and "avoided: ratios of f between neighbouring counts" in out


@pytest.mark.slow
def test_compare_a_network_energy_on_two_moons_draws_its_densities(capsys, tmp_path):
    """`bayesgen compare ebm2d --data two_moons`: the table without per-weight columns (104
    of them for 8 hidden units) and the fitted densities next to the data. A method the
    network configures (``EBM2D.default_methods``) runs as configured."""
    plot, report = tmp_path / "densities.png", tmp_path / "cmp.json"
    args = ["compare", "ebm2d", "--shape", "8", "--data", "two_moons", "--n", "300"]
    assert main([*args, "--methods", "nce", "--plot", str(plot), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    model = bg.models.EBM2D(hidden=8)
    size = sum(math.prod(p.shape) for p in model.params_spec)  # 104
    assert "data=two_moons" in out and f"({size} parameters" in out and "nce" in out
    assert plot.stat().st_size > 0
    (row,) = json.loads(report.read_text())["rows"]
    (nce,) = [resolve(m)[1] for m in model.default_methods if resolve(m)[1].name == "nce"]
    assert row["grad evals"] == nce.num_steps != bg.frequentist.NCE.default_num_steps


@pytest.mark.slow
def test_compare_an_ergm_of_the_florentine_marriages(capsys, tmp_path):
    """`bayesgen compare ergm --data florentine_marriage --terms edges,triangles`: one
    observed network, no truth and no held-out set; and the same network from a user's
    .graphml with its wealth attribute, through nodecov (an exact MLE: ergm's -2.5949)."""
    args = ["compare", "ergm", "--data", "florentine_marriage", "--terms", "edges,triangles"]
    report = tmp_path / "cmp.json"
    assert main([*args, "--methods", "pseudo_likelihood", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "ERGM(16, terms=['edges', 'triangles']), data=florentine_marriage, n=1" in out
    (row,) = json.loads(report.read_text())["rows"]
    assert abs(row["edges"] + 1.7009) < 1e-3  # the MPLE (a logistic regression, test_ergm)
    graphml = tmp_path / "flo.graphml"
    import networkx as nx

    nx.write_graphml(bg.datasets.florentine_marriage().to_networkx(), graphml)
    args = ["compare", "ergm", "--data", str(graphml), "--terms", "edges,nodecov(wealth)"]
    assert main([*args, "--methods", "exact_mle", "--json", str(report)]) == 0
    (row,) = json.loads(report.read_text())["rows"]
    assert abs(row["edges"] + 2.594929) < 1e-5 and abs(row["nodecov_wealth"] - 0.010546) < 1e-6


def test_compare_reads_a_users_files(capsys, tmp_path):
    """Counts in a one-column CSV with a header and Ising lattices in a .npy; a damaged
    file is one line on stderr and exit 2."""
    csv = tmp_path / "kicks.csv"
    csv.write_text("deaths\n" + "\n".join(str(int(k)) for k in bg.datasets.horse_kicks()))
    assert main(["compare", "cmp", "--data", str(csv), "--methods", "discrete_fisher"]) == 0
    assert "data=" in capsys.readouterr().out
    lattices = bg.models.Ising((3, 3)).sample(jax.random.key(0), {"beta": 0.3, "h": 0.1}, 50)
    npy = tmp_path / "spins.npy"
    np.save(npy, np.asarray(lattices))
    args = ["compare", "ising", "--shape", "3x3", "--data", str(npy), "--methods", "exact_mle"]
    assert main(args) == 0
    assert "n=50" in capsys.readouterr().out
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not an array")
    lines = error_lines(capsys, "compare", "ising", "--data", str(bad))
    assert len(lines) == 1 and f"cannot read {bad}" in lines[0], lines


def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "out.json"  # its folder cannot exist (tests may run as root)
    for command in (["compare", "ising"], ["study", "ising"], ["simulate", "ising"]):
        lines = error_lines(capsys, *command, "--json", str(target))
        assert len(lines) == 1 and f"cannot write {target}" in lines[0], lines
    lines = error_lines(capsys, "compare", "ising", "--plot", str(tmp_path))  # a folder
    assert len(lines) == 1 and "it is a folder" in lines[0], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing written


@pytest.mark.slow
def test_study_prints_coverage_and_writes_json(tmp_path, capsys):
    path = tmp_path / "study.json"
    args = ["study", "ising", "--shape", "3x3", "--n", "200", "--replicates", "40"]
    args += ["--methods", "exact_mle,pseudo_likelihood,contrastive_divergence"]
    assert main([*args, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "coverage (95%)" in out and "pseudo_likelihood" in out
    doc = json.loads(path.read_text())
    assert doc["schema"] == "bayesgen.coverage/1" and doc["replicates"] == 40
    rows = {(r["method"], r["parameter"]): r for r in doc["rows"]}
    coverage_se = (0.95 * 0.05 / 40) ** 0.5  # binomial, at the nominal rate
    assert abs(rows[("exact_mle", "beta")]["coverage"] - 0.95) <= 4 * coverage_se
    assert rows[("contrastive_divergence", "beta")]["coverage"] is None  # no standard errors


@pytest.mark.slow
def test_study_of_one_lattice_with_bootstrap_intervals(tmp_path):
    """``--n 1 --bootstrap B``: pseudo-likelihood's intervals from B refits per replicate
    (zero-field 4 x 4 lattices, exact draws); without ``--bootstrap`` it has none."""
    base = ["study", "ising", "--shape", "4x4", "--truth", "beta=0.3", "--n", "1"]
    base += ["--replicates", "20", "--methods", "exact_mle,pseudo_likelihood"]
    for boot, path in ((["--bootstrap", "20"], tmp_path / "boot.json"), ([], tmp_path / "no.json")):
        assert main([*base, *boot, "--json", str(path)]) == 0
    rows = {r["method"]: r for r in json.loads((tmp_path / "boot.json").read_text())["rows"]}
    assert rows["pseudo_likelihood"]["coverage"] is not None
    assert rows["pseudo_likelihood"]["mean width"] > 0  # (one 16-spin lattice may order:
    # some replicates' MLEs run off, so the widths are not compared here)
    plain = {r["method"]: r for r in json.loads((tmp_path / "no.json").read_text())["rows"]}
    assert plain["pseudo_likelihood"]["coverage"] is None
    # --out: each method's replicates written as they finish; a rerun reads them back
    ckpt = ["--out", str(tmp_path / "ckpt"), "--json", str(tmp_path / "again.json")]
    assert main([*base, "--bootstrap", "20", *ckpt]) == 0
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["exact_mle.0-20.json", "pseudo_likelihood.0-20.json"]
    assert main([*base, "--bootstrap", "20", *ckpt]) == 0  # resumed: nothing recomputed
    again = {r["method"]: r for r in json.loads((tmp_path / "again.json").read_text())["rows"]}
    for method, row in rows.items():
        assert {**again[method], "seconds": 0} == {**row, "seconds": 0}
    assert main([*base, "--bootstrap", "30", *ckpt]) == 2  # another study's folder
    assert main([*base, "--bootstrap", "1"]) == 2
