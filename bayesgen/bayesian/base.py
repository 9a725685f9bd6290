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

    def check(self, model) -> None:
        """Raise if the method cannot apply to ``model``."""

    def describe_normalizer(self, model) -> str:
        return self.normalizer

    def kernel(self, model):
        raise NotImplementedError

    def stat_fields(self) -> tuple[str, ...]:
        """Fields of the kernel state recorded per draw as sample statistics."""
        return ("accept_prob",)
