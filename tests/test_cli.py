"""The command line: real output, one-line errors, atomic JSON."""

import json
import subprocess
import sys

import pytest

from bayesgen.cli import main


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "bayesgen.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ising" in out and "exact: transfer matrix" in out and "gaussian" in out


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "potts"], "unknown model 'potts'"),
        (["simulate", "ising", "--shape", "4x"], "--shape must look like"),
        (["simulate", "ising", "--truth", "beta=abc"], "is not a number"),
        (["simulate", "ising", "--truth", "gamma=1"], "name=value pairs"),
        (["simulate", "ising", "--truth", "beta=nan"], "must be finite"),
        (["simulate", "ising", "--n", "0"], "--n must be at least 1"),
        (["simulate", "gaussian", "--truth", "precision=-1"], "positive-definite"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_errors_are_one_line_on_stderr(args, message):
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bayesgen: error:") and message in lines[0]
    assert "Traceback" not in result.stderr
