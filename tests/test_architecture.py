"""The layering of DESIGN.md, read from the source: data flow one way, models → (frequentist
| bayesian) → evaluation → cli; the two sides never import each other, and what they share
(the model, supports, normalisers, samplers, the zoo) imports neither side."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bayesgen"
SIDES = ("bayesgen.frequentist", "bayesgen.bayesian")
ABOVE_THE_MODELS = (*SIDES, "bayesgen.evaluation", "bayesgen.cli")


def _imports(path: Path) -> set[str]:
    """Every module that ``path`` imports (at module level or inside a function)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for path in sorted((PACKAGE / folder).glob("*.py")):
        hits = sorted(
            m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in forbidden)
        )
        if hits:
            bad[str(path.relative_to(PACKAGE))] = hits
    return bad


@pytest.mark.parametrize("folder", ["models", "samplers", "normalizers"])
def test_shared_layers_import_no_side(folder):
    """The zoo, the samplers and the normalisers import no fitter (a model configures its
    fits as ``(alias, options)`` pairs, resolved by ``bg.evaluation.resolve``)."""
    assert _offending(folder, ABOVE_THE_MODELS) == {}


def test_the_two_sides_never_import_each_other():
    assert _offending("frequentist", ("bayesgen.bayesian", "bayesgen.evaluation")) == {}
    assert _offending("bayesian", ("bayesgen.frequentist", "bayesgen.evaluation")) == {}


def test_core_modules_import_no_side():
    for name in ("model.py", "support.py", "errors.py", "losses.py", "optimizers.py"):
        hits = [m for m in _imports(PACKAGE / name) if m.startswith(ABOVE_THE_MODELS)]
        assert hits == [], (name, hits)
