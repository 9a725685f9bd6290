"""The pseudo-posterior with the mode and curvature adjustment of Bouranis, Friel & Maire
(2017), sampled with NUTS.

The pseudo-likelihood PL(θ; x) = Π_data Π_sites p_θ(x_s | x_-s) needs no Z, but the
pseudo-posterior π(θ) PL(θ; x) is centred at the wrong place and is far too narrow where
sites are dependent. Bouranis et al. map its draws θ (here: unconstrained z) affinely,

    z̃ = ẑ + W (z - ẑ_PL),   W = M⁻¹ N,   MᵀM = -∇² log π(ẑ | x),   NᵀN = -∇² log π_PL(ẑ_PL | x),

so the adjusted draws have the true posterior's mode ẑ and curvature at the mode. ẑ_PL and
its Hessian are exact (damped Newton on the pseudo-posterior). ẑ and its Hessian are Monte
Carlo: by the Fisher identity, with s(z; x) = ∇_z log f and draws x* ~ p_θ(z),

    ∇ log L = Σ_i s(z; x_i) - n E[s(z; x*)],
    ∇² log L = Σ_i ∇s(z; x_i) - n (Cov[s(z; x*)] + E[∇s(z; x*)]),

so ``num_newton`` Newton steps from ẑ_PL, each with ``num_simulations`` (m) fresh draws
(exact where the model samples exactly, otherwise sweeps of its Markov kernel from the
data, as many as the kernel's autocorrelation at the pseudo-posterior mode asks: the
fewest of 5, 10, 20, ... after which the scores keep a correlation of at most 0.05, as
for exchange's auxiliary draws; a draw that remembers the data biases the simulated
score toward the data's, and the mode toward the pseudo-posterior's). One step's mode
has a Monte Carlo error of about sqrt(n/m) posterior
standard deviations, so ẑ and the curvature are the averages over the second half of the
steps (Polyak–Ruppert): about sqrt(2n / (m · num_newton)) sds, 0.11 for n = 500 with the
defaults. Each step is safeguarded: the longest of the step lengths 1, 1/2, ..., 1/128
whose importance-sampled change of the log posterior (from that step's draws, as in
Monte Carlo MLE) is an increase with the weights' ESS at least m/2, and only iterates
whose full step was taken count in the average. Unguarded, the Newton step from the
pseudo-posterior mode of a 6-node graph with 6 ties and 2 triangles, where simulated
graphs pile up at the full graph, jumped to a triangle coefficient of -250; and 10 steps
from there left the averaged mode 0.1-0.2 short of where 20 to 40 steps agree (the
adjusted evidence 0.2-0.8 nats off), hence the default of 20. Z is never evaluated. The
modes and W are reported in ``PosteriorResult.info``; ``adjust=False`` samples the plain
pseudo-posterior.

Reference: L. Bouranis, N. Friel, F. Maire (2017), Efficient Bayesian inference for
exponential random graph models by correcting the pseudo-posterior distribution, Social
Networks 50.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpyro
from jax.flatten_util import ravel_pytree
from numpyro.infer import NUTS as _NumPyroNUTS

from bayesgen import losses
from bayesgen._compiled import per_model
from bayesgen.bayesian import modes
from bayesgen.bayesian.base import PosteriorMethod, unsupported
from bayesgen.samplers.mixing import sweeps_to_decorrelate

FIRST_SWEEPS = 5  # the first sweep count tried, doubled until the draws forget the data


@dataclass(frozen=True)
class PseudoPosterior(PosteriorMethod):
    """The (adjusted) pseudo-posterior of two-valued data.

    Args:
      adjust: map the draws to the true posterior's mode and curvature (Bouranis et al.).
      num_simulations: model draws per Monte Carlo gradient and Hessian; None: 8n, at
        least 400 and at most 4000, which keeps the averaged mode's Monte Carlo error,
        about sqrt(2n / (m · num_newton)) posterior sds, near 0.11 sd or below (0.02 sd for
        one lattice, which 4000 draws of 32 x 32 would take a minute to reach).
      num_newton: safeguarded Monte Carlo Newton steps from the pseudo-posterior mode;
        the iterates (and curvatures) of the second half that took a full step are
        averaged.
      num_sweeps: sweeps of the model's Markov kernel per draw where it has no exact
        sampler; None: chosen from the kernel's autocorrelation (reported in
        ``info["num_sweeps"]``). A fixed 100 tie-no-tie sweeps per network made the
        Florentine adjustment take about 50 s; the autocorrelation asks for 10 (11 s).
      max_lag_correlation, max_sweeps: the choice's target and bound.
      target_accept_prob, max_tree_depth: NUTS settings, as in NumPyro.
    """

    adjust: bool = True
    num_simulations: int | None = None
    num_newton: int = 20
    num_sweeps: int | None = None
    max_lag_correlation: float = 0.05
    max_sweeps: int = 2560
    target_accept_prob: float = 0.8
    max_tree_depth: int = 10
    name = "pseudo_posterior"

    def simulations(self, n: int) -> int:
        """The model draws per Monte Carlo step for ``n`` data (see ``num_simulations``)."""
        return self.num_simulations or min(4000, max(400, 8 * n))

    def describe_normalizer(self, model) -> str:
        if not self.adjust:
            return "avoided: pseudo-likelihood, unadjusted (overconfident)"
        return "avoided: pseudo-likelihood, mode and curvature adjusted by simulation"

    def check(self, model) -> None:
        support = model.support
        if not support.finite:
            raise unsupported(
                self,
                model,
                f"its data are {support.name}, not a finite set of values",
                "generalized_bayes",
            )
        if self.adjust and not (model.has_exact_sampler or model.has_mcmc_kernel):
            raise unsupported(
                self, model, "the adjustment simulates from the model", "adjust=False"
            )

    def kernel(self, model):
        def fn(data, **_):
            params = {name: numpyro.sample(name, prior) for name, prior in model.prior.items()}
            nll = losses.total(losses.negative_log_pseudo_likelihood, model, params, data)
            numpyro.factor("pseudo_likelihood", -nll)

        return _AdjustedNUTS(
            fn, target_accept_prob=self.target_accept_prob, max_tree_depth=self.max_tree_depth
        )

    def prepare(self, model, data, key) -> dict:
        return compiled_adjustment(model, self)(data, key)

    def check_prepared(self, model, extras: dict) -> None:
        if not bool(jnp.all(jnp.isfinite(extras["adjustment"]))):
            raise unsupported(
                self,
                model,
                "its Monte Carlo Newton did not settle at the posterior mode (no full step in "
                "the second half of num_newton), or the Monte Carlo Hessian of the log "
                "posterior is not positive definite (too few simulations, a flat likelihood)",
                "more num_newton or num_simulations, or adjust=False",
            )

    def describe_info(self, model, extras: dict) -> dict:
        sweeps = {"num_sweeps": extras["num_sweeps"]} if "num_sweeps" in extras else {}
        return {
            **sweeps,
            "adjustment": extras["adjustment"],
            **modes.labelled(model, "pseudo_mode", extras["pseudo_mode"]),
            **modes.labelled(model, "posterior_mode", extras["posterior_mode"]),
        }

    def stat_fields(self):
        return ("accept_prob", "diverging", "num_steps", "potential_energy")


class _AdjustedNUTS(_NumPyroNUTS):
    """NUTS on the pseudo-posterior whose draws are mapped by z ↦ ẑ + W (z - ẑ_PL) as they
    are post-processed (the sampler itself runs on the unadjusted pseudo-posterior)."""

    def postprocess_fn(self, args, kwargs):
        base = super().postprocess_fn(args, kwargs)
        pl_mode, mode, w = kwargs["pseudo_mode"], kwargs["posterior_mode"], kwargs["adjustment"]

        def adjusted(z):
            flat, unravel = ravel_pytree(z)
            return base(unravel(mode + w @ (flat - pl_mode)))

        return adjusted


@per_model
def compiled_adjustment(model, method: PseudoPosterior):
    """A jitted ``(data, key) -> {"pseudo_mode", "posterior_mode", "adjustment"}``."""

    @jax.jit
    def adjustment(data, key):
        z0, unravel = modes.unconstrained_zeros(model, data.dtype)
        log_prior = modes.flat_log_prior(model, unravel)

        def log_f(z, x):
            return model.log_f(modes.params_of(model, unravel, z), x)

        def neg_log_pseudo_posterior(z):
            params = modes.params_of(model, unravel, z)
            nll = losses.total(losses.negative_log_pseudo_likelihood, model, params, data)
            return nll - log_prior(z)

        pl_mode = modes.newton_minimize(neg_log_pseudo_posterior, z0)
        if not method.adjust:
            eye = jnp.eye(z0.size, dtype=z0.dtype)
            return {"pseudo_mode": pl_mode, "posterior_mode": pl_mode, "adjustment": eye}
        pl_hess = jax.hessian(neg_log_pseudo_posterior)(pl_mode)

        score = jax.grad(log_f)
        score_jac = jax.jacfwd(score)
        n = data.shape[0]
        data_score = lambda z: jax.vmap(score, (None, 0))(z, data).sum(0)  # noqa: E731
        data_curv = lambda z: jax.vmap(score_jac, (None, 0))(z, data).sum(0)  # noqa: E731

        chooses = method.num_sweeps is None and not model.has_exact_sampler
        if chooses:
            key, k_pilot = jax.random.split(key)
            num_sweeps, _ = sweeps_to_decorrelate(
                model,
                modes.params_of(model, unravel, pl_mode),
                data,
                k_pilot,
                start=FIRST_SWEEPS,
                max_sweeps=method.max_sweeps,
                target=method.max_lag_correlation,
            )
        else:
            num_sweeps = method.num_sweeps

        def simulate(z, k):
            params = modes.params_of(model, unravel, z)
            m = method.simulations(n)
            if model.has_exact_sampler:
                return model.sample(k, params, m)
            start = data[jnp.arange(m) % n]
            return model.mcmc_run(k, params, start, num_sweeps)

        def grad_and_neg_hess(z, sims):
            """Monte Carlo ∇ log π(z | x) and -∇² log π(z | x) (Fisher identity)."""
            s = jax.vmap(score, (None, 0))(z, sims)
            cov = jnp.cov(s, rowvar=False).reshape(z.size, z.size)
            mean_curv = jax.vmap(score_jac, (None, 0))(z, sims).mean(0)
            grad = data_score(z) - n * s.mean(0) + jax.grad(log_prior)(z)
            hess = data_curv(z) - n * (cov + mean_curv) + jax.hessian(log_prior)(z)
            return grad, -hess

        log_f_batch = jax.vmap(log_f, (None, 0))

        def safeguarded(z, step, sims):
            """z + α step for the largest α in 1, 1/2, ..., 1/128 (else 0) whose change of
            the log posterior, importance-sampled from the draws at z (as in MCMLE),
            is not negative with the weights' ESS at least half the draws. A Newton step
            from a point where simulated graphs pile up at the full or empty graph (the
            scores' covariance nearly singular) would otherwise jump to absurd values."""
            base_sims, base_data = log_f_batch(z, sims), log_f_batch(z, data).sum()

            def gain_and_ess(alpha):
                new = z + alpha * step
                log_w = log_f_batch(new, sims) - base_sims
                log_ratio = jax.nn.logsumexp(log_w) - jnp.log(log_w.shape[0])
                gain = log_f_batch(new, data).sum() - base_data - n * log_ratio
                gain = gain + log_prior(new) - log_prior(z)
                ess = jnp.exp(2 * jax.nn.logsumexp(log_w) - jax.nn.logsumexp(2 * log_w))
                return gain, ess / log_w.shape[0]

            gains, ess = jax.vmap(gain_and_ess)(alphas)
            ok = (gains >= 0) & (ess >= 0.5) & jnp.isfinite(gains)
            alpha = jnp.where(jnp.any(ok), alphas[jnp.argmax(ok)], 0.0)
            return z + alpha * jnp.where(jnp.isfinite(step), step, 0.0), alpha

        alphas = (2.0 ** -jnp.arange(8.0)).astype(pl_mode.dtype)

        # Newton from the pseudo-posterior mode, safeguarded; each step has Monte Carlo
        # error of about sqrt(n / m) posterior sds, so the iterates of the second half are
        # averaged (Polyak-Ruppert), as are their curvatures: those from which the full
        # Newton step was taken (near the mode; a damped step means the iterate is still
        # on its way there).
        keys = jax.random.split(key, method.num_newton)
        burn = method.num_newton // 2

        def newton(carry, k):
            z, i, z_sum, h_sum, kept = carry
            sims = simulate(z, k)
            g, h = grad_and_neg_hess(z, sims)
            z_next, alpha = safeguarded(z, jnp.linalg.solve(h, g), sims)
            keep = (i >= burn) & (alpha == 1.0)
            z_sum, h_sum = z_sum + keep * z, h_sum + keep * h
            return (z_next, i + 1, z_sum, h_sum, kept + keep), None

        zero = jnp.zeros((), jnp.int32)
        init = (pl_mode, zero, jnp.zeros_like(pl_mode), jnp.zeros_like(pl_hess), zero)
        (_, _, z_sum, h_sum, kept), _ = jax.lax.scan(newton, init, keys)
        mode = z_sum / kept  # NaN where no iterate settled: check_prepared says so
        hess = h_sum / kept
        m_chol = jnp.linalg.cholesky(0.5 * (hess + hess.T))  # hess = L Lᵀ: M = Lᵀ
        n_chol = jnp.linalg.cholesky(0.5 * (pl_hess + pl_hess.T))
        w = jax.scipy.linalg.solve_triangular(m_chol.T, n_chol.T, lower=False)  # M⁻¹ N
        out = {"pseudo_mode": pl_mode, "posterior_mode": mode, "adjustment": w}
        return {**out, "num_sweeps": num_sweeps} if chooses else out

    return adjustment
