"""Log-normaliser strategies, exact and estimated, shared by both sides and by evaluation."""

from bayesgen.normalizers.ais import ais_log_normalizer
from bayesgen.normalizers.bessel import log_bessel_i, log_bessel_ratio
from bayesgen.normalizers.enumeration import (
    binary_configurations,
    enumerate_log_normalizer,
    enumerate_log_weights,
)
from bayesgen.normalizers.importance import (
    effective_sample_size,
    log_mean_weight,
    log_normalizer_ratio,
)
from bayesgen.normalizers.kaufman import ising_torus_log_z_kaufman
from bayesgen.normalizers.series import cmp_log_normalizer, cmp_series
from bayesgen.normalizers.transfer_matrix import (
    MAX_WIDTH,
    ising_transfer_matrix_log_z,
    ising_transfer_matrix_sample,
    transfer_matrix_sampling_cost,
)

__all__ = [
    "MAX_WIDTH",
    "ais_log_normalizer",
    "binary_configurations",
    "cmp_log_normalizer",
    "cmp_series",
    "effective_sample_size",
    "enumerate_log_normalizer",
    "enumerate_log_weights",
    "ising_torus_log_z_kaufman",
    "ising_transfer_matrix_log_z",
    "ising_transfer_matrix_sample",
    "log_bessel_i",
    "log_bessel_ratio",
    "log_mean_weight",
    "log_normalizer_ratio",
    "transfer_matrix_sampling_cost",
]
