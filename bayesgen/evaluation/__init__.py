"""The evaluation layer: methods from both sides on the same data, side by side."""

from bayesgen.evaluation.compare import (
    JSON_SCHEMA,
    Comparison,
    applicable_methods,
    compare,
    resolve,
)
from bayesgen.evaluation.ksd import kernel_stein_discrepancy, stein_kernel
from bayesgen.evaluation.network_gof import DegeneracyWarning, NetworkGoodnessOfFit, network_gof
from bayesgen.evaluation.sbc import SBC, SBC_SCHEMA, sbc
from bayesgen.evaluation.studies import COVERAGE_SCHEMA, CoverageStudy, coverage_study
from bayesgen.evaluation.sweep import (
    SWEEP_SCHEMA,
    Sweep,
    SweepTable,
    collect,
    run_cell,
    sweep,
    sweep_cells,
)

__all__ = [
    "COVERAGE_SCHEMA",
    "JSON_SCHEMA",
    "SBC",
    "SBC_SCHEMA",
    "SWEEP_SCHEMA",
    "Comparison",
    "CoverageStudy",
    "DegeneracyWarning",
    "NetworkGoodnessOfFit",
    "Sweep",
    "SweepTable",
    "applicable_methods",
    "collect",
    "compare",
    "coverage_study",
    "kernel_stein_discrepancy",
    "network_gof",
    "resolve",
    "run_cell",
    "sbc",
    "stein_kernel",
    "sweep",
    "sweep_cells",
]
