"""The Model base: a parameter spec, an unnormalised log-density, its normaliser, and data.

A model p_θ(x) = f_θ(x) / Z(θ) is written once, as ``log f_θ(x)`` for ONE datum
(:meth:`Model.log_unnormalized`). Everything else in bayesgen (the frequentist estimators, the
NumPyro posteriors, the evaluation layer) is built from that one function, plus
:meth:`Model.log_normalizer` where the model can compute log Z(θ) exactly.

Parameters are a dict ``{name: array}``; :attr:`Model.params_spec` says the name, shape,
constraint (a NumPyro constraint, whose bijection optimisers and samplers use) and default
prior of each.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.transforms import biject_to

from bayesgen.errors import DataError, IntractableNormalizerError, MethodError, ParameterError
from bayesgen.samplers import gibbs, langevin
from bayesgen.support import Reals, Support, _float_dtype

__all__ = ["Model", "ParamSpec", "bijections", "constrain", "unconstrain"]

Params = dict[str, jax.Array]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a model.

    Attributes:
      name: the key in the params dict.
      shape: the shape of its value (``()`` for a scalar).
      constraint: a NumPyro constraint; ``numpyro.distributions.transforms.biject_to`` of it
        maps unconstrained space to the parameter's domain.
      prior: the default prior, a NumPyro distribution with ``event_shape + batch_shape ==
        shape``.
      description: what the parameter means, in words.
    """

    name: str
    shape: tuple[int, ...]
    constraint: Any
    prior: Distribution
    description: str = ""


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


class Model:
    """Base class of every model: p_θ(x) = exp(log_unnormalized(θ, x) - log_normalizer(θ)).

    Subclasses set ``name``, ``params_spec``, ``support`` and ``normalizer`` and implement
    ``_log_unnormalized(params, x)``; where log Z is exact, ``_log_normalizer(params)``; and
    ``_sample(key, params, n, **options)``.

    Attributes:
      name: short name used by the CLI and in tables (``"ising"``).
      params_spec: a tuple of :class:`ParamSpec`.
      support: the :class:`~bayesgen.support.Support` of one datum.
      normalizer: how log Z(θ) is computed exactly, in words (``"exact: transfer matrix"``),
        or ``None`` when it cannot be (then :meth:`log_normalizer` raises).
      sampler: how :meth:`sample` draws data, in words.
      smooth: whether log f is twice differentiable in x (score matching needs it).
      default_methods: what ``bg.compare`` runs when no methods are named (aliases or
        configured method objects); None: every method that applies.
      plots_densities: ``bayesgen compare --plot`` draws the fitted densities (models on R
        or R² with a quadrature log Z) instead of the estimates.
    """

    name: str = "model"
    params_spec: tuple[ParamSpec, ...] = ()
    support: Support
    normalizer: str | None = None
    sampler: str = ""
    smooth: bool = True
    default_methods: list | None = None
    plots_densities: bool = False

    def __init__(self) -> None:
        self._prior_overrides: dict[str, Distribution] = {}

    @classmethod
    def from_cli(cls, shape: tuple[int, ...] | None, truth_names=()) -> Model:
        """The CLI's constructor, from ``--shape`` (None: the defaults) and the names given
        in ``--truth``; models whose parameters depend on those names override it."""
        return cls() if shape is None else cls.from_shape(shape)

    # -- parameters --------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names, in spec order."""
        return tuple(p.name for p in self.params_spec)

    @property
    def num_params(self) -> int:
        """The number of scalar parameters (the sum of the specs' sizes)."""
        return sum(int(np.prod(p.shape, dtype=int)) for p in self.params_spec)

    @property
    def prior(self) -> dict[str, Distribution]:
        """``{name: NumPyro distribution}``: the defaults, overridden by :meth:`with_prior`."""
        return {p.name: self._prior_overrides.get(p.name, p.prior) for p in self.params_spec}

    def with_prior(self, priors: Mapping[str, Distribution]) -> Model:
        """A copy of the model whose prior uses ``priors`` for the names given.

        Raises:
          ParameterError: an unknown name, or a distribution whose shape does not match.
        """
        specs = {p.name: p for p in self.params_spec}
        for name, d in priors.items():
            if name not in specs:
                raise ParameterError(
                    f"with_prior: {self.name} has no parameter {name!r}; "
                    f"its parameters are {self.param_names}"
                )
            if not isinstance(d, Distribution):
                raise ParameterError(
                    f"with_prior: the prior of {name!r} must be a numpyro distribution, "
                    f"got {type(d).__name__}"
                )
            got = tuple(d.batch_shape) + tuple(d.event_shape)
            if got != specs[name].shape:
                raise ParameterError(
                    f"with_prior: the prior of {name!r} has shape {got} but the parameter has "
                    f"shape {specs[name].shape}; use .expand(...) or .to_event(...) to match"
                )
        new = copy.copy(self)
        new._prior_overrides = {**self._prior_overrides, **priors}
        return new

    def check_params(self, params: Mapping[str, jax.typing.ArrayLike]) -> Params:
        """Check names, shapes and (when concrete) values; return arrays of the float dtype.

        Raises:
          ParameterError: missing or unknown names, a wrong shape, a non-finite value, or a
            value outside the parameter's constraint.
        """
        if not isinstance(params, Mapping):
            raise ParameterError(
                f"params must be a dict {{name: value}} with names {self.param_names}; "
                f"got {type(params).__name__}"
            )
        missing = [n for n in self.param_names if n not in params]
        unknown = [n for n in params if n not in self.param_names]
        if missing or unknown:
            raise ParameterError(
                f"{self.name} takes parameters {self.param_names}; "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {unknown}" if unknown else "")
            )
        out = {}
        for spec in self.params_spec:
            value = params[spec.name]
            try:
                arr = value if _is_traced(value) else jnp.asarray(value, dtype=_float_dtype())
            except (TypeError, ValueError) as err:
                raise ParameterError(f"parameter {spec.name!r} is not numeric: {err}") from None
            if tuple(arr.shape) != spec.shape:
                raise ParameterError(
                    f"parameter {spec.name!r} must have shape {spec.shape}; got {tuple(arr.shape)}"
                )
            if not _is_traced(arr):
                host = np.asarray(arr)
                if not np.isfinite(host).all():
                    raise ParameterError(
                        f"parameter {spec.name!r} must be finite; got {host.tolist()}"
                    )
                with jax.ensure_compile_time_eval():  # concrete even inside a jit trace
                    inside = bool(np.all(spec.constraint.check(arr)))
                if not inside:
                    raise ParameterError(
                        f"parameter {spec.name!r} = {host.tolist()} is outside its domain "
                        f"({_describe_constraint(spec.constraint)})"
                    )
            out[spec.name] = arr
        return out

    # -- data --------------------------------------------------------------------------
    def validate(self, data: jax.typing.ArrayLike) -> jax.Array:
        """Check a batch of data against the support; see :meth:`Support.validate`."""
        return self.support.validate(data)

    # -- densities ---------------------------------------------------------------------
    def log_unnormalized(self, params: Mapping[str, jax.typing.ArrayLike], x: jax.Array):
        """log f_θ(x) for ONE datum ``x`` of shape ``support.event_shape``; vmap for batches."""
        params = self.check_params(params)
        if tuple(jnp.shape(x)) != self.support.event_shape:
            raise DataError(
                f"log_unnormalized takes one datum of shape {self.support.event_shape}; got "
                f"shape {tuple(jnp.shape(x))} (use jax.vmap over a batch)"
            )
        if not _is_traced(x):
            x = self.support.validate(jnp.asarray(x)[None])[0]
        return self._log_unnormalized(params, x.astype(_float_dtype()))

    @property
    def has_exact_normalizer(self) -> bool:
        """Whether :meth:`log_normalizer` can compute log Z(θ) exactly."""
        return self.normalizer is not None

    def log_normalizer(self, params: Mapping[str, jax.typing.ArrayLike]) -> jax.Array:
        """Exact log Z(θ) = log Σ_x f_θ(x) (or ∫), differentiable in θ.

        Raises:
          IntractableNormalizerError: the model has no exact way at this size.
        """
        if not self.has_exact_normalizer:
            raise IntractableNormalizerError(self._intractable_reason())
        return self._log_normalizer(self.check_params(params))

    def log_prob(self, params: Mapping[str, jax.typing.ArrayLike], x: jax.Array) -> jax.Array:
        """log p_θ(x) = log f_θ(x) - log Z(θ) for ONE datum; needs an exact normaliser."""
        return self.log_unnormalized(params, x) - self.log_normalizer(params)

    def log_likelihood(self, params: Mapping[str, jax.typing.ArrayLike], data: jax.Array):
        """Σ_i log p_θ(x_i) over a batch ``data`` of shape ``(n, *event_shape)``."""
        params = self.check_params(params)
        data = self.validate(data)
        lf = jax.vmap(self._log_unnormalized, (None, 0))(params, data)
        return lf.sum() - data.shape[0] * self.log_normalizer(params)

    def _intractable_reason(self) -> str:
        return (
            f"{self!r} has no exact log normaliser; use a method that avoids Z "
            "(pseudo_likelihood, contrastive_divergence, score matching, exchange, ...) "
            "or estimate log Z by annealed importance sampling"
        )

    def log_conditionals(self, params: Params, x: jax.Array) -> jax.Array:
        """log p_θ(x_i | x_{-i}) at the observed value of every site of ONE datum.

        Z(θ) cancels from each conditional. Generic version for a two-valued support: one
        evaluation of log f per site with that site flipped. Models override it with a
        closed form where they have one. Returns an array of shape ``event_shape``.
        """
        values = getattr(self.support, "values", ())
        if len(values) != 2:
            raise NotImplementedError(f"{type(self).__name__} has no full conditionals")
        flat = x.reshape(-1)
        other = values[0] + values[1] - flat

        def flipped(i):
            return self._log_unnormalized(params, flat.at[i].set(other[i]).reshape(x.shape))

        lf = self._log_unnormalized(params, x)
        lf_flip = jax.vmap(flipped)(jnp.arange(flat.size))
        return (lf - jnp.logaddexp(lf, lf_flip)).reshape(x.shape)

    # The sites of a dataset grouped into classes on which log p(x_i | x_{-i}) is constant:
    # ``conditional_classes(data) -> (counts, classes)`` and
    # ``class_log_conditionals(params, classes) -> (K,)``. A model whose conditionals take
    # few values (Ising: a spin and its neighbour sum) defines both, and the site-sum
    # losses (pseudo-likelihood, ratio matching) become sums over K classes instead of
    # n x sites terms; ``None``: no such summary (see :func:`bayesgen.losses.total`).
    conditional_classes = None
    class_log_conditionals = None

    # -- where optimisers and Z-free fits start ---------------------------------------
    def initial_params(self) -> Params | None:
        """The parameters a fit starts from when the user gives none; ``None``: the origin
        of unconstrained space (:func:`unconstrained_origin`). Models whose origin is a
        stationary point of every loss (an ICA unmixing matrix of zeros, a network whose
        weights are all zero) override it."""
        return None

    # -- moments (for checks) ----------------------------------------------------------
    statistic_names: tuple[str, ...] = ()

    def statistics(self, x: jax.Array) -> jax.Array:
        """Summary statistics of ONE datum, shape ``(len(statistic_names),)``."""
        raise NotImplementedError(f"{type(self).__name__} defines no statistics")

    def expected_statistics(self, params: Mapping[str, jax.typing.ArrayLike]) -> jax.Array:
        """E_θ[statistics(x)] computed exactly (closed form or from the exact normaliser)."""
        raise NotImplementedError(f"{type(self).__name__} has no exact expected statistics")

    # -- exponential families (a declared capability) ----------------------------------
    exponential_family: bool = False
    """Whether log f_θ(x) = natural_parameters(θ) · statistics(x) + b(x), with b free of θ.
    Where it holds, methods that sum log f over many data use the summed statistics
    instead: an exchange step draws the auxiliary data's summed statistics and sums the
    data's once. Declaring it wrongly makes those methods wrong; the
    identity is checked for every declaring model in the test suite."""

    def natural_parameters(self, params: Params) -> jax.Array:
        """η(θ), shape ``(len(statistic_names),)``, for :attr:`exponential_family` models."""
        raise NotImplementedError(f"{type(self).__name__} is not declared an exponential family")

    def summed_statistics(self, xs: jax.Array) -> jax.Array:
        """Σ_i statistics(x_i) over the data ``xs``."""
        return jnp.sum(jax.vmap(self.statistics)(xs), axis=0)

    def sample_statistics(self, key: jax.Array, params: Params, n: int) -> jax.Array:
        """Σ_i statistics(w_i) over the ``n`` draws of ``sample(key, params, n)`` (the same
        draws where the key or the parameters are traced, as inside exchange's compiled
        loop). Models whose exact sampler draws the statistics first (Ising's density of
        states) override it to skip building the data."""
        return self.summed_statistics(self.sample(key, params, n))

    # -- simulation --------------------------------------------------------------------
    def sample(self, key: jax.Array, params: Mapping[str, jax.typing.ArrayLike], n: int, **options):
        """Draw ``n`` data, shape ``(n, *support.event_shape)``; :attr:`sampler` says how."""
        if not isinstance(n, int | np.integer) or n < 1:
            raise ParameterError(f"n must be a positive integer; got {n!r}")
        params = self.check_params(params)
        try:
            inspect.signature(self._sample).bind(key, params, int(n), **options)
        except TypeError as err:
            raise ParameterError(f"{self!r}.sample: {err}") from None
        return self._sample(key, params, int(n), **options)

    # -- data-space MCMC (contrastive divergence, MCMC-MLE, approximate exchange) --------
    @property
    def has_mcmc_kernel(self) -> bool:
        """Whether :meth:`mcmc_sweep` has a kernel for this model's data."""
        return isinstance(self.support, Reals) or self.support.two_valued

    def mcmc_run(self, key, params: Params, xs: jax.Array, num_sweeps: int, *, step_size=0.1):
        """``num_sweeps`` sweeps of :meth:`mcmc_sweep` on every chain of ``xs`` (shape
        ``(chains, *event_shape)``), each chain with its own key. jit/vmap-able."""

        def one_sweep(k, x):
            return self.mcmc_sweep(k, params, x, step_size=step_size)

        return _sweep_chains(key, xs, num_sweeps, one_sweep)

    @property
    def local_mcmc_kernel(self) -> str:
        """The kernel of :meth:`local_mcmc_run`, in words."""
        return self.mcmc_kernel

    def local_mcmc_run(self, key, params: Params, xs: jax.Array, num_sweeps: int, *, step_size=0.1):
        """A few sweeps of every chain of ``xs`` for methods that take only a step from the
        data toward p_θ (contrastive divergence): :meth:`mcmc_run`, unless the model has a
        cheaper local kernel for that than its mixing one (the Ising model's checkerboard
        where its kernel is Swendsen–Wang)."""
        return self.mcmc_run(key, params, xs, num_sweeps, step_size=step_size)

    def _log_unnormalized_batch(self, params: Params, xs: jax.Array) -> jax.Array:
        """log f_θ of every datum of ``xs``, unchecked (for use inside compiled code)."""
        return jax.vmap(self._log_unnormalized, (None, 0))(params, xs)

    @property
    def mcmc_kernel(self) -> str:
        """The kernel of :meth:`mcmc_sweep`, in words."""
        if isinstance(self.support, Reals):
            return "Metropolis-adjusted Langevin"
        return "Gibbs, site by site"

    def mcmc_sweep(self, key: jax.Array, params: Params, x: jax.Array, *, step_size=0.1):
        """One sweep of a Markov kernel that leaves p_θ invariant, on ONE datum ``x``.

        Generic kernels built from log f alone (Z cancels): a systematic-scan Gibbs sweep for
        a two-valued support, one Metropolis-adjusted Langevin step of size ``step_size`` for
        real data. Models override it with a faster exact kernel where they have one.
        jit/vmap-able; vmap over chains.
        """
        values = getattr(self.support, "values", ())

        def log_f(v):
            return self._log_unnormalized(params, v)

        if len(values) == 2:
            return gibbs.sweep(key, log_f, x, values)
        if isinstance(self.support, Reals):
            return langevin.step(key, log_f, x, step_size)
        raise MethodError(f"{type(self).__name__} has no data-space Markov kernel")

    def annealed_run(self, key, params: Params, xs: jax.Array, temperature, num_sweeps: int):
        """``num_sweeps`` sweeps, on every chain of ``xs``, of a kernel that leaves
        π_t ∝ f_θ^t invariant on a two-valued support (uniform at t = 0, p_θ at t = 1): the
        moves of annealed importance sampling. Generic Gibbs on t · log f; models where
        f_θ^t = f_θ' for some θ' (exponential families) override it with their fast kernel.
        """
        if not self.support.two_valued:
            raise MethodError(f"{type(self).__name__}: annealing needs a two-valued support")

        def log_f(v):
            return temperature * self._log_unnormalized(params, v)

        def one_sweep(k, x):
            return gibbs.sweep(k, log_f, x, self.support.values)

        return _sweep_chains(key, xs, num_sweeps, one_sweep)

    # -- to be specialised -------------------------------------------------------------
    def _log_unnormalized(self, params: Params, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def _log_normalizer(self, params: Params) -> jax.Array:
        raise IntractableNormalizerError(self._intractable_reason())

    def _sample(self, key: jax.Array, params: Params, n: int, **options) -> jax.Array:
        raise NotImplementedError(f"{type(self).__name__} has no sampler")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _sweep_chains(key, xs, num_sweeps: int, one_sweep):
    """``num_sweeps`` applications of ``one_sweep(key, x)`` to every chain of ``xs``, each
    chain with its own key (vmapped over chains, a loop over sweeps)."""

    def run(x, k):
        return jax.lax.fori_loop(
            0, num_sweeps, lambda j, v: one_sweep(jax.random.fold_in(k, j), v), x
        )

    return jax.vmap(run)(xs, jax.random.split(key, xs.shape[0]))


def bijections(model: Model) -> dict:
    """``{name: bijection from unconstrained space}`` (NumPyro ``biject_to``), used by the
    optimisers of one side and the samplers of the other."""
    return {s.name: biject_to(s.constraint) for s in model.params_spec}


def unconstrained_origin(transform, constraint, shape, dtype):
    """The point an optimiser or a sampler's coordinates start from: zeros in unconstrained
    space, or, where ``transform`` is undefined at zero (a unit vector, v / ‖v‖), the
    constraint's canonical feasible point mapped back."""
    with jax.ensure_compile_time_eval():  # concrete even inside a jit trace
        zero = jnp.zeros(transform.inverse_shape(tuple(shape)), dtype)
        if bool(jnp.all(jnp.isfinite(transform(zero)))):
            return zero
        return transform.inv(constraint.feasible_like(jnp.zeros(shape, dtype)))


def constrain(model: Model, u) -> Params:
    """Unconstrained values to the parameters' own space."""
    return {k: t(u[k]) for k, t in bijections(model).items()}


def unconstrain(model: Model, params) -> dict:
    """Parameters to unconstrained space."""
    return {k: t.inv(params[k]) for k, t in bijections(model).items()}


def _describe_constraint(c) -> str:
    if c is constraints.positive:
        return "must be > 0"
    if c is constraints.positive_definite:
        return "must be a symmetric positive-definite matrix"
    if c is constraints.unit_interval:
        return "must lie in [0, 1]"
    if isinstance(c, type(constraints.sphere)):
        return "must be a unit vector: Euclidean norm 1"
    return f"constraint {c}"
