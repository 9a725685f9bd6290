"""What every posterior method is: a NumPyro ``MCMCKernel`` built for a model.

A method is a small frozen (hashable) object with a ``name``, a ``check(model)`` that raises
when it cannot apply, ``describe_normalizer(model)`` (how Z was handled, in words) and
``kernel(model)``, the NumPyro kernel whose ``sample_field`` holds unconstrained values and
whose ``postprocess_fn`` maps them to the parameters (plus deterministic sites). The
driver (:mod:`bayesgen.bayesian.driver`) is the only loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from bayesgen.errors import unsupported

__all__ = ["PosteriorMethod", "unsupported"]


@dataclass(frozen=True)
class PosteriorMethod:
    """Base class of posterior methods."""

    name = "method"
    normalizer = ""
    exact_likelihood = False  # whether draws carry the exact per-datum log-likelihood
    # The integer entry of :meth:`prepare`'s output that sets how long the kernel runs per
    # step (approximate exchange's sweeps), or None. Vmapped replicates run as long as the
    # longest, so replicate studies group replicates by it.
    run_length = None

    def check(self, model) -> None:
        """Raise if the method cannot apply to ``model``."""

    def describe_normalizer(self, model) -> str:
        return self.normalizer

    def kernel(self, model):
        raise NotImplementedError

    def prepare(self, model, data, key) -> dict:
        """Data-dependent constants of the kernel, computed once before sampling (a
        calibrated loss weight, modes and curvatures): ``{name: array}``, handed to the
        kernel as NumPyro model keyword arguments and reported in ``PosteriorResult.info``.
        Implementations jit their work once per (method, model), so a new dataset of the
        same shape does not recompile, and are traceable, so that replicate datasets are
        prepared in one vmapped computation; checks that need concrete values go in
        :meth:`check_prepared`."""
        return {}

    def check_prepared(self, model, extras: dict) -> None:
        """Raise if :meth:`prepare`'s output cannot be used (a non-finite calibration).
        Replicate runs mark such replicates as failed instead."""

    def check_chains(self, model, num_chains: int, chain_method: str) -> None:
        """Raise if the method cannot run ``num_chains`` chains by ``chain_method`` (a
        population needs several chains, updated together)."""

    def describe_chains(self, model, num_chains: int) -> dict:
        """What to report of how ``num_chains`` chains were run, beyond :meth:`describe_info`
        (default: nothing; a population sampler says so)."""
        return {}

    def describe_info(self, model, extras: dict) -> dict:
        """What to report of :meth:`prepare`'s output (default: all of it)."""
        return extras

    def stat_fields(self) -> tuple[str, ...]:
        """Fields of the kernel state recorded per draw as sample statistics."""
        return ("accept_prob",)
