"""The Model base: a parameter spec, an unnormalised log-density, its normaliser, and data.

A model p_θ(x) = f_θ(x) / Z(θ) is written once, as ``log f_θ(x)`` for ONE datum. Either from
functions, with :func:`bayesgen.model`::

    potts = bg.model(log_f, params=[bg.ParamSpec("beta", (), constraints.real,
                                                  dist.Normal(0, 1))],
                     support=bg.Categorical((3, 3), num_values=3), name="potts")

or as a subclass of :class:`Model` that sets ``params_spec`` and ``support`` and defines the
public hooks ``log_f(params, x)``, and where it has them ``log_z(params)`` (exact log Z) and
``draw(key, params, n)`` (a sampler). Everything else in bayesgen (the frequentist
estimators, the NumPyro posteriors, the evaluation layer) is built from those, and what a
model does not define it gets from its support where it can: exact log Z and exact draws by
enumeration on a finite support of at most :data:`ENUMERATION_MAX_STATES` data, a
data-space Markov kernel (site Gibbs for finite supports, Metropolis-adjusted Langevin for
real data), and a sampler by that kernel where none is exact.

Parameters are a dict ``{name: array}``; :attr:`Model.params_spec` says the name, shape,
constraint (a NumPyro constraint, whose bijection optimisers and samplers use) and default
prior of each. The definition is checked when the model is made (:class:`ModelError`).
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints
from numpyro.distributions.transforms import biject_to

from bayesgen import _compiled
from bayesgen.errors import (
    DataError,
    IntractableNormalizerError,
    MethodError,
    ModelError,
    ParameterError,
)
from bayesgen.normalizers.enumeration import (
    configurations,
    enumerate_log_normalizer,
    enumerate_log_weights,
)
from bayesgen.samplers import gibbs, langevin, tabulated
from bayesgen.support import Reals, Support, _float_dtype

__all__ = [
    "ENUMERATION_MAX_STATES",
    "Model",
    "ParamSpec",
    "Parametrization",
    "bijections",
    "constrain",
    "model",
    "unconstrain",
]

Params = dict[str, jax.Array]

ENUMERATION_MAX_STATES = 2**20
"""A model on a finite support with at most this many data gets exact log Z and exact
sampling by enumeration, unless it defines its own (2^20 evaluations of log f: about a
second on a CPU)."""

DEFAULT_MCMC_SWEEPS = 1000
"""Sweeps of the data-space kernel per draw for the approximate sampler a model gets where
it has no exact one (one chain per datum, from a draw of :meth:`Support.random`)."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a model.

    Attributes:
      name: the key in the params dict.
      shape: the shape of its value (``()`` for a scalar).
      constraint: a NumPyro constraint; ``numpyro.distributions.transforms.biject_to`` of it
        maps unconstrained space to the parameter's domain.
      prior: the default prior, a NumPyro distribution with ``batch_shape + event_shape ==
        shape`` whose draws lie in the constraint.
      description: what the parameter means, in words.
    """

    name: str
    shape: tuple[int, ...]
    constraint: Any
    prior: Distribution
    description: str = ""


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


_DEPRECATED_HOOKS = {"_log_unnormalized": "log_f", "_log_normalizer": "log_z", "_sample": "draw"}


class _ModelType(type):
    """Checks every model's definition once its ``__init__`` has run (so a subclass need not
    call ``super().__init__()`` and a mistake is reported where the model is made)."""

    def __call__(cls, *args, **kwargs):
        obj = super().__call__(*args, **kwargs)
        obj._complete_definition()
        return obj


class Model(metaclass=_ModelType):
    """Base class of every model: p_θ(x) = exp(log_f(θ, x) - log_z(θ)).

    A subclass sets ``params_spec`` (a sequence of :class:`ParamSpec`) and ``support`` (a
    :class:`~bayesgen.support.Support`), as class attributes or in ``__init__``, and defines
    the hooks:

    - ``log_f(params, x)``: log f_θ(x) for ONE datum, unchecked (required);
    - ``log_z(params)``: exact log Z(θ), with ``normalizer`` saying how in words (optional:
      a finite support of at most :data:`ENUMERATION_MAX_STATES` data gets enumeration);
    - ``draw(key, params, n)``: ``n`` data, with ``sampler`` saying how and
      ``has_exact_sampler`` whether they are exact draws (optional: enumeration where it
      applies, else the data-space kernel).

    Attributes:
      name: short name used by the CLI and in tables (``"ising"``).
      params_spec: a tuple of :class:`ParamSpec`.
      support: the :class:`~bayesgen.support.Support` of one datum.
      normalizer: how log Z(θ) is computed exactly, in words (``"exact: transfer matrix"``),
        or ``None`` when it cannot be (then :meth:`log_normalizer` raises). For people; the
        capability is :attr:`has_exact_normalizer`.
      sampler: how :meth:`sample` draws data, in words.
      has_exact_sampler: whether :meth:`sample` draws exactly from p_θ (a declared
        capability: the exchange algorithm's exact auxiliary draw needs it).
      smooth: whether log f is twice differentiable in x (score matching needs it).
      default_methods: what ``bg.compare`` runs when no methods are named: aliases or
        ``(alias, {option: value})`` pairs (so that a model configures its fits without
        importing either side); None: every method that applies.
      plots_densities: ``bayesgen compare --plot`` draws the fitted densities (models on R
        or R² with a quadrature log Z) instead of the estimates.
    """

    name: str = "model"
    params_spec: tuple[ParamSpec, ...] = ()
    support: Support
    normalizer: str | None = None
    sampler: str = ""
    has_exact_sampler: bool = False
    smooth: bool = True
    default_methods: list | None = None
    plots_densities: bool = False
    _prior_overrides: Mapping[str, Distribution] = MappingProxyType({})
    _enumerated: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for old, new in _DEPRECATED_HOOKS.items():
            if old in cls.__dict__ and new not in cls.__dict__:
                warnings.warn(
                    f"{cls.__name__}.{old} is deprecated: name the hook {new} (the public "
                    f"hooks are log_f, log_z and draw)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                setattr(cls, new, cls.__dict__[old])

    def __init__(self) -> None:
        """Nothing to set up; subclasses need not call it."""

    # -- the definition, checked once the model is made ---------------------------------
    def _complete_definition(self) -> None:
        """Check the definition and give the model what its support provides."""
        what = type(self).__name__
        support = getattr(self, "support", None)
        if not isinstance(support, Support):
            raise ModelError(
                f"{what} has no support: set self.support to a bg support (bg.Spins(shape), "
                "bg.Binary(shape), bg.Categorical(shape, num_values), bg.Reals(shape), ...)"
                + (f"; got {type(support).__name__}" if support is not None else "")
            )
        if not self._defines("log_f"):
            raise ModelError(
                f"{what} defines no log_f: define log_f(self, params, x), the unnormalised "
                "log-density of ONE datum x"
            )
        self.params_spec = tuple(self.params_spec)
        if not self.params_spec:
            raise ModelError(f"{what} has no parameters: set params_spec to bg.ParamSpec(...)s")
        seen = set()
        for spec in self.params_spec:
            _check_spec(what, spec, seen)
        _check_log_f_shape(self)
        _warn_unidentified(self)
        if (
            self._defines("log_z") and self.normalizer is None and "normalizer" not in vars(self)
        ):  # a subclass with its own log_z that does not say how it works
            self.normalizer = f"exact: {type(self).__name__}.log_z"
        if (
            self.normalizer is None
            and not self._defines("log_z")
            and support.finite
            and support.num_states <= ENUMERATION_MAX_STATES
        ):
            self._enumerated = True
            self.normalizer = f"exact: enumeration of {support.num_states} configurations"
            if not self._defines("draw"):
                self.sampler = f"exact: enumeration of {support.num_states} configurations"
                self.has_exact_sampler = True
        if not self._defines("draw") and not self._enumerated and self.has_mcmc_kernel:
            self.sampler = (
                f"approximate: {self.mcmc_kernel}, one chain per datum, "
                f"{DEFAULT_MCMC_SWEEPS} sweeps"
            )
            self.has_exact_sampler = False

    def _defines(self, hook: str) -> bool:
        """Whether the model brings its own ``hook`` (``"log_f"``, ``"log_z"``, ``"draw"``)
        rather than the base's."""
        return getattr(type(self), hook) is not getattr(Model, hook)

    @property
    def has_sampler(self) -> bool:
        """Whether :meth:`sample` can draw data (exactly, or by the data-space kernel)."""
        return self._defines("draw") or self._enumerated or self.has_mcmc_kernel

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

    def parametrization(self, onto: str = "constraint") -> Parametrization:
        """The unconstrained coordinates of the parameters (:class:`Parametrization`):
        ``onto="constraint"`` for fits, ``"prior"`` (the prior's support) for posteriors."""
        return Parametrization(self, onto)

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

    def validate_datasets(self, datasets) -> jax.Array:
        """Check replicate datasets of equal size, shape ``(replicates, n, *event_shape)``
        (an array, or a list of equal-shape batches), against the support in one pass."""
        event = tuple(self.support.event_shape)
        try:
            stacked = jnp.asarray(datasets)
        except (TypeError, ValueError):
            stacked = None
        shape = () if stacked is None else tuple(stacked.shape)
        if len(shape) != len(event) + 2 or shape[2:] != event:
            raise DataError(
                f"datasets must have shape (replicates, n, *{event}); got "
                f"{shape if stacked is not None else 'batches of unequal shapes'}. Stack "
                "datasets of the same size along a new first axis"
            )
        return jnp.reshape(self.support.validate(jnp.reshape(stacked, (-1, *event))), shape)

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
        return self.log_f(params, x.astype(_float_dtype()))

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
        return self.log_z(self.check_params(params))

    def log_prob(self, params: Mapping[str, jax.typing.ArrayLike], x: jax.Array) -> jax.Array:
        """log p_θ(x) = log f_θ(x) - log Z(θ) for ONE datum; needs an exact normaliser."""
        return self.log_unnormalized(params, x) - self.log_normalizer(params)

    def log_likelihood(self, params: Mapping[str, jax.typing.ArrayLike], data: jax.Array):
        """Σ_i log p_θ(x_i) over a batch ``data`` of shape ``(n, *event_shape)``."""
        params = self.check_params(params)
        data = self.validate(data)
        lf = jax.vmap(self.log_f, (None, 0))(params, data)
        return lf.sum() - data.shape[0] * self.log_normalizer(params)

    def _intractable_reason(self) -> str:
        states = self.support.num_states
        if states is not None and states > ENUMERATION_MAX_STATES:
            return (
                f"{self!r} has no exact log normaliser: its {states:.3g} configurations are "
                f"more than the {ENUMERATION_MAX_STATES} bayesgen enumerates; use a method "
                "that avoids Z (pseudo_likelihood, contrastive_divergence, exchange, ...) or "
                "estimate log Z by annealed importance sampling"
            )
        return (
            f"{self!r} has no exact log normaliser; use a method that avoids Z "
            "(pseudo_likelihood, contrastive_divergence, score matching, exchange, ...) "
            "or estimate log Z by annealed importance sampling"
        )

    def log_conditionals(self, params: Params, x: jax.Array) -> jax.Array:
        """log p_θ(x_i | x_{-i}) at the observed value of every site of ONE datum.

        Z(θ) cancels from each conditional. Generic version for a finite support: log f at
        every value of each site with the rest held (one flip per site where there are two
        values). Models override it with a closed form where they have one. Returns an
        array of shape ``event_shape``.
        """
        values = self.support.values
        if values is None:
            raise MethodError(f"{type(self).__name__} has no full conditionals (infinite support)")
        flat = x.reshape(-1)
        lf = self.log_f(params, x)
        if len(values) == 2:
            other = values[0] + values[1] - flat

            def flipped(i):
                return self.log_f(params, flat.at[i].set(other[i]).reshape(x.shape))

            lf_flip = jax.vmap(flipped)(jnp.arange(flat.size))
            return (lf - jnp.logaddexp(lf, lf_flip)).reshape(x.shape)
        every = self._site_log_f(params, x)
        return (lf - jax.scipy.special.logsumexp(every, axis=1)).reshape(x.shape)

    def conditional_log_probs(self, params: Params, x: jax.Array) -> jax.Array:
        """log p_θ(x_i = v | x_{-i}) for every site i and every value v of a finite support,
        shape ``(sites, len(support.values))``, for ONE datum (Z cancels)."""
        if self.support.values is None:
            raise MethodError(f"{type(self).__name__} has no full conditionals (infinite support)")
        every = self._site_log_f(params, x)
        return every - jax.scipy.special.logsumexp(every, axis=1, keepdims=True)

    def _site_log_f(self, params: Params, x: jax.Array) -> jax.Array:
        """log f with each site set to each value in turn, the rest held: ``(sites, q)``."""
        flat = x.reshape(-1)
        table = jnp.asarray(self.support.values, dtype=flat.dtype)

        def site(i):
            return jax.vmap(lambda v: self.log_f(params, flat.at[i].set(v).reshape(x.shape)))(table)

        return jax.vmap(site)(jnp.arange(flat.size))

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
            inspect.signature(self.draw).bind(key, params, int(n), **options)
        except TypeError as err:
            raise ParameterError(f"{self!r}.sample: {err}") from None
        return self.draw(key, params, int(n), **options)

    def sample_datasets(self, keys: jax.Array, params, n: int, *, per_key: bool = False):
        """One dataset of ``n`` data per key, shape ``(len(keys), n, *event_shape)``, from
        the model at ``params`` (or at ``params[i]`` for key ``i`` when ``per_key``): the
        parametric bootstrap's and the replicate studies' data, in one compiled vmap (kept
        on the model, so a second call with the same sizes does not recompile)."""
        if not isinstance(n, int | np.integer) or n < 1:
            raise ParameterError(f"n must be a positive integer; got {n!r}")
        return _compiled.jit(self, _sample_datasets, self, int(n), bool(per_key))(params, keys)

    # -- data-space MCMC (contrastive divergence, MCMC-MLE, approximate exchange) --------
    @property
    def has_mcmc_kernel(self) -> bool:
        """Whether :meth:`mcmc_sweep` has a kernel for this model's data."""
        return isinstance(self.support, Reals) or self.support.finite

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

    def log_f_batch(self, params: Params, xs: jax.Array) -> jax.Array:
        """log f_θ of every datum of ``xs``, unchecked (for use inside compiled code)."""
        return jax.vmap(self.log_f, (None, 0))(params, xs)

    @property
    def mcmc_kernel(self) -> str:
        """The kernel of :meth:`mcmc_sweep`, in words."""
        if isinstance(self.support, Reals):
            return "Metropolis-adjusted Langevin"
        return "Gibbs, site by site"

    def mcmc_sweep(self, key: jax.Array, params: Params, x: jax.Array, *, step_size=0.1):
        """One sweep of a Markov kernel that leaves p_θ invariant, on ONE datum ``x``.

        Generic kernels built from log f alone (Z cancels): a systematic-scan Gibbs sweep for
        a finite support, one Metropolis-adjusted Langevin step of size ``step_size`` for
        real data. Models override it with a faster exact kernel where they have one.
        jit/vmap-able; vmap over chains.
        """
        values = self.support.values

        def log_f(v):
            return self.log_f(params, v)

        if values is not None:
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
        if not self.support.finite:
            raise MethodError(f"{type(self).__name__}: annealing needs a finite support")

        def log_f(v):
            return temperature * self.log_f(params, v)

        def one_sweep(k, x):
            return gibbs.sweep(k, log_f, x, self.support.values)

        return _sweep_chains(key, xs, num_sweeps, one_sweep)

    # -- the hooks ----------------------------------------------------------------------
    def log_f(self, params: Params, x: jax.Array) -> jax.Array:
        """log f_θ(x) for ONE datum, unchecked: the hook a model defines, and what compiled
        code calls (:meth:`log_unnormalized` is the checked form)."""
        raise NotImplementedError(f"{type(self).__name__} defines no log_f")

    def log_z(self, params: Params) -> jax.Array:
        """Exact log Z(θ), unchecked (:meth:`log_normalizer` is the checked form). By
        enumeration where the support allows it; models with a better way define it."""
        if not self._enumerated:
            raise IntractableNormalizerError(self._intractable_reason())
        return enumerate_log_normalizer(
            lambda p, v: self.log_f(p, v.reshape(self.support.event_shape)),
            params,
            self.support.size,
            values=self.support.values,
        )

    def draw(self, key: jax.Array, params: Params, n: int, **options) -> jax.Array:
        """``n`` data, unchecked (:meth:`sample` is the checked form). By enumeration where
        the support allows it, else :data:`DEFAULT_MCMC_SWEEPS` sweeps of the data-space
        kernel from :meth:`Support.random` (``num_sweeps=`` to change)."""
        shape = (n, *self.support.event_shape)
        if self._enumerated:
            size, values = self.support.size, self.support.values
            log_w = enumerate_log_weights(
                lambda p, v: self.log_f(p, v.reshape(self.support.event_shape)),
                params,
                size,
                values=values,
            )
            index = tabulated.draw_indices(key, log_w, n).astype(jnp.int32)
            return configurations(index, size, values).reshape(shape)
        if not self.has_mcmc_kernel:
            raise MethodError(
                f"{self!r} has no sampler: give bg.model a sample= function, or define "
                "draw(key, params, n) (or mcmc_sweep, a data-space kernel) on the class"
            )
        k_start, k_run = jax.random.split(key)
        num_sweeps = int(options.pop("num_sweeps", DEFAULT_MCMC_SWEEPS))
        if options:
            raise TypeError(f"unexpected options {sorted(options)}")
        start = self.support.random(k_start, n)
        return self.mcmc_run(k_run, params, start, num_sweeps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_spec(what: str, spec, seen: set) -> None:
    """Raise :class:`ModelError` naming the fix for a malformed :class:`ParamSpec`."""
    if not isinstance(spec, ParamSpec):
        raise ModelError(
            f"{what}: params_spec holds {type(spec).__name__}, not bg.ParamSpec(name, shape, "
            "constraint, prior)"
        )
    if not isinstance(spec.name, str) or not spec.name.isidentifier() or spec.name in seen:
        raise ModelError(
            f"{what}: parameter name {spec.name!r} must be a Python identifier used once"
        )
    seen.add(spec.name)
    try:
        shape = tuple(int(d) for d in spec.shape)
    except TypeError:
        raise ModelError(
            f"{what}: the shape of {spec.name!r} must be a tuple of ints (() for a scalar); "
            f"got {spec.shape!r}"
        ) from None
    if shape != tuple(spec.shape):
        object.__setattr__(spec, "shape", shape)
    if not isinstance(spec.constraint, constraints.Constraint):
        raise ModelError(
            f"{what}: the constraint of {spec.name!r} must be a numpyro constraint "
            f"(constraints.real, constraints.positive, ...); got {spec.constraint!r}"
        )
    d = spec.prior
    if not isinstance(d, Distribution):
        raise ModelError(
            f"{what}: the prior of {spec.name!r} must be a numpyro distribution; got "
            f"{type(d).__name__}"
        )
    got = tuple(d.batch_shape) + tuple(d.event_shape)
    if got != shape:
        raise ModelError(
            f"{what}: the prior of {spec.name!r} has shape {got} but the parameter has shape "
            f"{shape}; use .expand({list(shape)}) and .to_event({len(shape)}) to match"
            if shape
            else f"{what}: the prior of {spec.name!r} has shape {got} but the parameter is a "
            "scalar; give a scalar distribution"
        )
    with jax.ensure_compile_time_eval():
        draws = d.sample(jax.random.key(0), (64,))
        inside = bool(np.all(spec.constraint.check(draws)))
    if not inside:
        raise ModelError(
            f"{what}: the prior of {spec.name!r} ({type(d).__name__}) puts mass outside the "
            f"parameter's domain ({_describe_constraint(spec.constraint)}); choose a prior on "
            "that domain (for a positive parameter dist.HalfNormal, dist.LogNormal or "
            "dist.Gamma)"
        )


def _example_params(model: Model, key) -> Params:
    """Parameters drawn from the default priors (points at which to check a definition)."""
    keys = jax.random.split(key, len(model.params_spec))
    return {
        s.name: jnp.asarray(s.prior.sample(k), _float_dtype())
        for s, k in zip(model.params_spec, keys, strict=True)
    }


def _check_log_f_shape(model: Model) -> None:
    what = type(model).__name__
    params = {s.name: jax.ShapeDtypeStruct(s.shape, _float_dtype()) for s in model.params_spec}
    x = jax.ShapeDtypeStruct(model.support.event_shape, _float_dtype())
    try:
        out = jax.eval_shape(model.log_f, params, x)
    except Exception as err:  # the user's function failed on one datum: say where
        raise ModelError(
            f"{what}.log_f failed on parameters of shapes "
            f"{ {s.name: s.shape for s in model.params_spec} } and one datum of shape "
            f"{model.support.event_shape}: {type(err).__name__}: {err}"
        ) from err
    if getattr(out, "shape", None) != ():
        raise ModelError(
            f"{what}.log_f must return a scalar for ONE datum of shape "
            f"{model.support.event_shape}; it returned {out!r} (sum over sites inside log_f, "
            "and let bayesgen vmap over data)"
        )


def _warn_unidentified(model: Model) -> None:
    """Warn where log f sees a square real matrix parameter only through its symmetric part
    (W and Wᵀ give the same density): then only (W + Wᵀ) / 2 is identified."""
    square = [
        s
        for s in model.params_spec
        if len(s.shape) == 2 and s.shape[0] == s.shape[1] > 1 and _is_real(s.constraint)
    ]
    if not square:
        return
    k_p, k_x = jax.random.split(jax.random.key(1))
    with jax.ensure_compile_time_eval():
        params = _example_params(model, k_p)
        xs = model.support.random(k_x, 4)
        log_f = jax.vmap(model.log_f, (None, 0))
        base = log_f(params, xs)
        for spec in square:
            w = params[spec.name]
            if bool(jnp.allclose(w, w.T)):
                continue
            swapped = log_f({**params, spec.name: w.T}, xs)
            if bool(jnp.allclose(base, swapped, rtol=1e-6, atol=1e-9)):
                d = spec.shape[0]
                warnings.warn(
                    f"{type(model).__name__}: log_f depends on the {d}x{d} matrix "
                    f"{spec.name!r} only through its symmetric part, so its {d * d} entries "
                    f"are not identified (W and W.T give the same density); parameterise it "
                    f"by the {d * (d - 1) // 2} entries above the diagonal (plus the "
                    f"{d} on it if used)",
                    UserWarning,
                    stacklevel=4,
                )


def _is_real(c) -> bool:
    base = getattr(c, "base_constraint", c)
    return base is constraints.real


class _FunctionModel(Model):
    """A model made by :func:`model` from functions."""

    def __init__(self, log_f, params, support, name, log_normalizer, sample, exact_sample):
        self._log_f, self._log_normalizer_fn, self._sample_fn = log_f, log_normalizer, sample
        self.name = name
        self.params_spec = tuple(params)
        self.support = support
        if log_normalizer is not None:
            self.normalizer = "exact: given with the model"
        if sample is not None:
            self.sampler = ("exact" if exact_sample else "approximate") + ": given with the model"
            self.has_exact_sampler = bool(exact_sample)

    def _defines(self, hook: str) -> bool:
        given = {"log_z": self._log_normalizer_fn, "draw": self._sample_fn}
        return hook == "log_f" or given.get(hook) is not None

    def log_f(self, params, x):
        return self._log_f(params, x)

    def log_z(self, params):
        if self._log_normalizer_fn is None:
            return super().log_z(params)
        return self._log_normalizer_fn(params)

    def draw(self, key, params, n, **options):
        if self._sample_fn is None:
            return super().draw(key, params, n, **options)
        return self._sample_fn(key, params, n, **options)

    def __repr__(self) -> str:
        return f"bg.model({self.name!r})"


def model(
    log_f: Callable[[Params, jax.Array], jax.Array],
    *,
    params: Sequence[ParamSpec],
    support: Support,
    name: str = "model",
    log_normalizer: Callable[[Params], jax.Array] | None = None,
    sample: Callable[..., jax.Array] | None = None,
    exact_sample: bool = True,
) -> Model:
    """A :class:`Model` from functions, accepted by every method of both sides.

    Args:
      log_f: ``log_f(params, x)``: the unnormalised log-density of ONE datum ``x`` of shape
        ``support.event_shape``, a scalar; pure JAX (it is jitted and vmapped).
      params: the parameters, a list of :class:`ParamSpec`.
      support: the domain of one datum (``bg.Spins``, ``bg.Binary``, ``bg.Categorical``,
        ``bg.Reals``, ...).
      name: the name in tables and messages.
      log_normalizer: ``log_normalizer(params)``, exact log Z(θ), if you have it. Without
        it a finite support of at most :data:`ENUMERATION_MAX_STATES` data is enumerated
        (``normalizer == "exact: enumeration of ... configurations"``); otherwise Z is
        intractable and the methods that avoid it apply.
      sample: ``sample(key, params, n)`` returning ``(n, *event_shape)`` data, if you have a
        sampler. Without it: exact by enumeration where that applies, else the data-space
        kernel (site Gibbs, or Langevin on real data), approximate.
      exact_sample: whether ``sample`` draws exactly from p_θ (exchange's exact auxiliary
        draw needs it); False marks it approximate.

    Raises:
      ModelError: a definition that cannot work (no support, a prior of the wrong shape or
        outside its parameter's domain, a log_f that is not a scalar), with the fix.

    Example:
      >>> import jax.numpy as jnp, numpyro.distributions as dist, bayesgen as bg
      >>> from numpyro.distributions import constraints
      >>> def log_f(p, x):  # a 3-state Potts model on a 3 x 3 torus
      ...     same = (x == jnp.roll(x, 1, 0)).sum() + (x == jnp.roll(x, 1, 1)).sum()
      ...     return p["beta"] * same
      >>> potts = bg.model(log_f, params=[bg.ParamSpec("beta", (), constraints.real,
      ...                  dist.Normal(0.0, 1.0))], support=bg.Categorical((3, 3), 3),
      ...                  name="potts")
      >>> potts.normalizer
      'exact: enumeration of 19683 configurations'
    """
    if not callable(log_f):
        raise ModelError(f"bg.model: log_f must be a function (params, x) -> scalar; got {log_f!r}")
    for label, fn in (("log_normalizer", log_normalizer), ("sample", sample)):
        if fn is not None and not callable(fn):
            raise ModelError(f"bg.model: {label} must be a function; got {fn!r}")
    if isinstance(params, ParamSpec) or not isinstance(params, Sequence):
        raise ModelError("bg.model: params must be a list of bg.ParamSpec(...)")
    return _FunctionModel(log_f, params, support, str(name), log_normalizer, sample, exact_sample)


def _sample_datasets(model, n, per_key, params, keys):
    return jax.vmap(lambda k, p: model.sample(k, p, n), (0, 0 if per_key else None))(keys, params)


def _sweep_chains(key, xs, num_sweeps: int, one_sweep):
    """``num_sweeps`` applications of ``one_sweep(key, x)`` to every chain of ``xs``, each
    chain with its own key (vmapped over chains, a loop over sweeps)."""

    def run(x, k):
        return jax.lax.fori_loop(
            0, num_sweeps, lambda j, v: one_sweep(jax.random.fold_in(k, j), v), x
        )

    return jax.vmap(run)(xs, jax.random.split(key, xs.shape[0]))


class Parametrization:
    """The coordinates that optimisers and samplers move in, built once from a model and
    used by both sides: every parameter through a NumPyro bijection ``biject_to`` from
    unconstrained space onto its domain.

    ``onto="constraint"`` (the frequentist fits) maps onto each parameter's own constraint;
    ``onto="prior"`` (every Bayesian method) onto its prior's support, the coordinates
    NumPyro's own kernels use, so that with a prior such as Uniform(0, 1) on a real
    parameter a draw can never leave the prior's support. Made by
    :meth:`Model.parametrization`.

    Attributes:
      transforms: ``{name: bijection from unconstrained space}``.
      priors: ``{name: NumPyro distribution}``, the model's prior.
    """

    def __init__(self, model: Model, onto: str = "constraint"):
        if onto not in ("constraint", "prior"):
            raise ValueError(f"onto must be 'constraint' or 'prior'; got {onto!r}")
        self.specs = tuple(model.params_spec)
        self.priors = model.prior
        self.domains = {
            s.name: s.constraint if onto == "constraint" else self.priors[s.name].support
            for s in self.specs
        }
        self.transforms = {k: biject_to(c) for k, c in self.domains.items()}

    def constrain(self, u) -> Params:
        """Unconstrained values (a dict) to the parameters' own space."""
        return {k: t(u[k]) for k, t in self.transforms.items()}

    def unconstrain(self, params) -> dict:
        """Parameters to unconstrained space."""
        return {k: t.inv(params[k]) for k, t in self.transforms.items()}

    def origin(self, dtype) -> dict:
        """Where coordinates start when nothing says otherwise: zeros in unconstrained space,
        or, where a bijection is undefined at zero (a unit vector, v / ‖v‖), the domain's
        canonical feasible point mapped back."""
        return {
            s.name: unconstrained_origin(
                self.transforms[s.name], self.domains[s.name], s.shape, dtype
            )
            for s in self.specs
        }

    def start(self, dtype, params=None) -> dict:
        """``params`` in unconstrained space (cast to ``dtype``), else :meth:`origin`."""
        if params is None:
            return self.origin(dtype)
        return self.unconstrain({k: jnp.asarray(params[k], dtype) for k in self.transforms})

    def log_prior(self, u):
        """log π(θ) + log |dθ/du| at the unconstrained parameters ``u`` (a dict): the prior
        density of the coordinates themselves."""
        total = 0.0
        for name, t in self.transforms.items():
            theta = t(u[name])
            total = total + jnp.sum(self.priors[name].log_prob(theta))
            total = total + jnp.sum(t.log_abs_det_jacobian(u[name], theta))
        return total


def bijections(model: Model) -> dict:
    """``{name: bijection from unconstrained space onto the parameter's constraint}``
    (:class:`Parametrization`'s ``transforms``)."""
    return Parametrization(model).transforms


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
    return Parametrization(model).constrain(u)


def unconstrain(model: Model, params) -> dict:
    """Parameters to unconstrained space."""
    return Parametrization(model).unconstrain(params)


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
