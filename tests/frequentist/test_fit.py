"""The fit driver, exact MLE and pseudo-likelihood against ground truth computed another way."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize, stats
from scipy.special import logsumexp

import bayesgen as bg
from bayesgen.frequentist import PseudoLikelihood, fit_replicates

TRUTH = {"beta": 0.3, "h": 0.05}
MODEL = bg.models.Ising((4, 4))


@pytest.fixture(scope="module")
def data():
    return MODEL.sample(jax.random.key(2026), TRUTH, 1000)


def test_exact_mle_equals_scipy_on_the_enumerated_likelihood(data):
    # Independent: every configuration's statistics by itertools, the likelihood by scipy.
    s = np.array(list(itertools.product([-1.0, 1.0], repeat=16))).reshape(-1, 4, 4)
    t_all = np.stack(
        [np.sum(s * (np.roll(s, -1, 1) + np.roll(s, -1, 2)), axis=(1, 2)), s.sum(axis=(1, 2))],
        axis=1,
    )
    x = np.asarray(data)
    t_data = np.stack(
        [np.sum(x * (np.roll(x, -1, 1) + np.roll(x, -1, 2)), axis=(1, 2)), x.sum(axis=(1, 2))],
        axis=1,
    ).mean(0)

    def nll(theta):
        logw = t_all @ theta
        w = np.exp(logw - logsumexp(logw))
        return logsumexp(logw) - theta @ t_data, w @ t_all - t_data

    ref = optimize.minimize(nll, np.zeros(2), jac=True, method="BFGS", options={"gtol": 1e-12})
    result = bg.fit(MODEL, data, "exact_mle")
    np.testing.assert_allclose([result.params["beta"], result.params["h"]], ref.x, atol=1e-5)
    assert result.grad_norm < 1e-8 and result.converged and result.failed_step is None
    assert result.normalizer == "exact: enumeration" and result.side == "frequentist"
    # At the MLE the sandwich is close to the inverse Fisher information Cov[T]^-1 / n.
    w = np.exp(t_all @ ref.x - logsumexp(t_all @ ref.x))
    cov_t = (t_all - w @ t_all).T @ ((t_all - w @ t_all) * w[:, None])
    fisher_inv = np.linalg.inv(cov_t) / len(x)
    # The sandwich's meat is estimated from n = 1000 data: its standard errors carry a relative
    # error of about sqrt((kurtosis - 1) / (4 n)) ≈ 2-3% here, so 10% is about 4 of those.
    np.testing.assert_allclose(np.sqrt(np.diag(result.cov)), np.sqrt(np.diag(fisher_inv)), rtol=0.1)
    lo, hi = result.interval(0.95)["beta"]
    np.testing.assert_allclose(hi - lo, 2 * 1.959963985 * result.stderr["beta"], rtol=1e-9)


def test_pseudo_likelihood_generic_conditionals_match_the_closed_form(data):
    generic = bg.Model.log_conditionals(MODEL, TRUTH, data[0])
    np.testing.assert_allclose(MODEL.log_conditionals(TRUTH, data[0]), generic, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(4, 4), (2, 3), (5, 3)])
def test_site_losses_summed_over_classes_equal_the_generic_per_datum_sums(shape):
    """losses.total over Ising's (spin, neighbour sum) classes against the per-datum sum of
    the generic site-flip conditionals (one log f per flipped site), value and gradient, on
    random spins (every class occurs)."""
    from bayesgen import losses

    model = bg.models.Ising(shape)
    spins = 2.0 * jax.random.bernoulli(jax.random.key(3), 0.5, (300, *shape)) - 1.0
    params = {"beta": jnp.asarray(0.37), "h": jnp.asarray(-0.21)}
    counts, _ = model.conditional_classes(spins)
    assert float(counts.sum()) == spins.size

    def generic(name):
        def site_sum(p, x):
            lc = bg.Model.log_conditionals(model, p, x)
            return -lc.sum() if name == "pl" else jnp.sum(jnp.expm1(lc) ** 2)

        return lambda p: jax.vmap(site_sum, (None, 0))(p, spins).sum()

    for name, loss in (
        ("pl", losses.negative_log_pseudo_likelihood),
        ("rm", losses.ratio_matching),
    ):
        by_class = lambda p, loss=loss: losses.total(loss, model, p, spins)  # noqa: E731
        np.testing.assert_allclose(by_class(params), generic(name)(params), rtol=1e-12)
        g1, g2 = jax.grad(by_class)(params), jax.grad(generic(name))(params)
        for k in params:
            np.testing.assert_allclose(g1[k], g2[k], rtol=1e-10)


@pytest.mark.slow
def test_replicate_study_bias_and_sandwich_coverage():
    """60 datasets as one vmapped study: no bias beyond 3 standard errors; 95% sandwich
    intervals cover at a rate a binomial test accepts (ratio matching is an M-estimator too,
    so its sandwich intervals are held to the same test)."""
    reps, n = 60, 1000
    keys = jax.random.split(jax.random.key(7), reps)
    datasets = jax.vmap(lambda k: MODEL.sample(k, TRUTH, n))(keys)
    truth = np.array([TRUTH["beta"], TRUTH["h"]])
    for method in ("exact_mle", "pseudo_likelihood", "ratio_matching"):
        params, _, stderr, grad_norm, failed = fit_replicates(MODEL, datasets, method)[:5]
        est = np.stack([params["beta"], params["h"]], axis=1)
        se = np.stack([stderr["beta"], stderr["h"]], axis=1)
        assert (np.asarray(failed) < 0).all() and (np.asarray(grad_norm) < 1e-6).all()
        bias_se = est.std(0, ddof=1) / np.sqrt(reps)
        assert (np.abs(est.mean(0) - truth) < 3 * bias_se).all(), (method, est.mean(0))
        covered = (np.abs(est - truth) <= 1.959963985 * se).sum(0)
        for c in covered:
            assert stats.binomtest(int(c), reps, 0.95).pvalue > 0.01, (method, covered)
        # The sandwich standard error tracks the spread of the estimates across datasets.
        # The sd of 60 estimates has relative standard error 1 / sqrt(2 * 59) ≈ 9%: 30% is
        # about 3.3 of those.
        np.testing.assert_allclose(se.mean(0), est.std(0, ddof=1), rtol=0.3)


@pytest.mark.slow
def test_replicates_of_one_lattice_get_bootstrap_intervals_that_cover():
    """n = 1 (one 8 x 8 zero-field lattice per dataset, exact draws by the transfer
    matrix): pseudo-likelihood's default standard error is the parametric bootstrap, NaN in
    a replicate study unless asked for; with 40 refits per replicate, all in one vmapped
    computation, the 95% intervals of 60 replicates cover at a rate a binomial test
    accepts, the median bootstrap SE tracks the spread of the estimates (the sd of 60 has
    relative error 9%, 30% is 3.3 of those), and replicate 0's SE matches bg.fit's own
    bootstrap on the same lattice (sds of 40 and 100 refits: 13% apart in sd, 40% allowed)."""
    model = bg.models.Ising((8, 8), field=False)
    reps, truth = 60, 0.25  # well below the critical 0.44 (an ordered lattice has no PL estimate)
    datasets = jax.vmap(lambda k: model.sample(k, {"beta": truth}, 1))(
        jax.random.split(jax.random.key(11), reps)
    )
    plain = fit_replicates(model, datasets, "pseudo_likelihood")
    assert np.isnan(plain.stderr["beta"]).all()
    boot = fit_replicates(model, datasets, "pseudo_likelihood", num_bootstrap=40)
    est, se = np.asarray(boot.params["beta"]), np.asarray(boot.stderr["beta"])
    np.testing.assert_allclose(est, plain.params["beta"], rtol=1e-12)
    assert (se > 0).all()
    covered = int((np.abs(est - truth) <= 1.959963985 * se).sum())
    assert stats.binomtest(covered, reps, 0.95).pvalue > 0.01, covered
    # the median: at an estimate near the lattice's critical coupling the bootstrap's
    # lattices order and its SE grows several-fold (0.68 at 0.39), so the mean is the tail's
    np.testing.assert_allclose(np.median(se), est.std(ddof=1), rtol=0.3)
    single = bg.fit(model, datasets[0], "pseudo_likelihood", key=jax.random.key(3))
    assert single.uncertainty.startswith("parametric bootstrap")
    np.testing.assert_allclose(se[0], single.stderr["beta"], rtol=0.4)
    with pytest.raises(bg.MethodError, match="num_bootstrap"):
        fit_replicates(model, datasets, "pseudo_likelihood", num_bootstrap=1)


@pytest.mark.slow
def test_replicates_start_where_a_single_fit_starts():
    """Each replicate starts from its own Z-free fit, as bg.fit does (MCMLE from the MPLE).
    Started all from the first replicate's MPLE, MCMLE could not travel to each MLE within
    its 10 refreshes: on 16 x 16 lattices (n = 1, 100 replicates) its estimates were pulled
    toward that start and its 95% intervals covered 77%. Now every replicate's MCMLE is
    within 0.25 exact SEs of its exact MLE (0.09 measured on 16 x 16) with the same SE."""
    model = bg.models.Ising((8, 8), field=False)
    datasets = jax.vmap(lambda k: model.sample(k, {"beta": 0.35}, 1))(
        jax.random.split(jax.random.key(4), 16)
    )
    exact = fit_replicates(model, datasets, "exact_mle")
    mcmle = fit_replicates(model, datasets, "mcmle", key=jax.random.key(1))
    se = np.asarray(exact.stderr["beta"])
    gap = np.abs(np.asarray(mcmle.params["beta"]) - np.asarray(exact.params["beta"])) / se
    assert gap.max() < 0.25, gap
    np.testing.assert_allclose(mcmle.stderr["beta"], se, rtol=0.1)


def test_new_data_of_the_same_shape_does_not_recompile(data):
    traces = []

    class Counting(PseudoLikelihood):
        def per_datum_loss(self, model, params, x, key, state):
            traces.append(1)
            return super().per_datum_loss(model, params, x, key, state)

    est = Counting()
    bg.fit(MODEL, data, est)
    first = len(traces)
    other = MODEL.sample(jax.random.key(5), TRUTH, 1000)
    bg.fit(MODEL, other, est)
    # The second fit traces only the post-fit gradient/sandwich helpers' cache hits: nothing.
    assert len(traces) == first


def test_a_single_fit_stops_where_a_replicate_study_does(data):
    """Deterministic full-batch fits end at the step taken within the gradient tolerance, in
    bg.fit as in fit_replicates, so the two give the same estimate on the same data; with
    progress shown (in chunks) the fit ends at the same step."""
    single = bg.fit(MODEL, data, "pseudo_likelihood")
    chunked = bg.fit(MODEL, data, "pseudo_likelihood", progress=True)
    study = fit_replicates(MODEL, data[None], "pseudo_likelihood")
    assert single.converged and 1 < len(single.loss_trace) < 100  # the default: 100 steps
    assert np.isfinite(single.loss_trace).all()
    assert len(chunked.loss_trace) == len(single.loss_trace)
    for name in TRUTH:
        np.testing.assert_allclose(single.params[name], study.params[name][0], rtol=1e-12)
        np.testing.assert_allclose(chunked.params[name], single.params[name], rtol=1e-12)
    # a stochastic estimator runs every step
    cd = bg.fit(MODEL, data, "contrastive_divergence", num_steps=50, uncertainty="none")
    assert len(cd.loss_trace) == 50
    # and the replicate gets the single fit's verdict, check for check
    assert study.ok[0] and single.ok and study.why[0] == ""
    assert study.diagnostics[0].keys() == single.diagnostics.keys()


@pytest.mark.slow
def test_replicates_carry_the_verdicts_a_single_fit_gives():
    """A replicate study does not ignore what each fit says about itself: NCE on one 4 x 4
    lattice per dataset is flagged on every replicate with the reason bg.fit gives (one
    datum is no classification problem), from the same checks."""
    datasets = jax.vmap(lambda k: MODEL.sample(k, TRUTH, 1))(jax.random.split(jax.random.key(8), 4))
    nce = bg.frequentist.NCE(noise="independent")  # the quicker noise to compile
    reps = fit_replicates(MODEL, datasets, nce, key=jax.random.key(2))
    single = bg.fit(MODEL, datasets[0], nce, uncertainty="sandwich")  # no bootstrap refits
    assert not single.ok and not reps.ok.any()
    assert all("n = 1 data" in why for why in reps.why) and "n = 1 data" in single.why
    assert list(single.diagnostics) == ["optimizer", "stderr", "maximum", "classifier", "data"]
    # the same checks, but the standard errors' (NaN by choice: no num_bootstrap)
    assert all(list(d) == ["optimizer", "maximum", "classifier", "data"] for d in reps.diagnostics)
    assert not any(d["data"].passed for d in reps.diagnostics)


def test_unknown_and_inapplicable_methods():
    with pytest.raises(
        bg.MethodError,
        match="available: conditional_nce, contrastive_divergence, denoising_score_matching, ",
    ):
        bg.fit(MODEL, np.ones((3, 4, 4)), "magic")
    gaussian = bg.models.Gaussian(2)
    for method in ("pseudo_likelihood", "ratio_matching"):
        with pytest.raises(bg.MethodError, match="not a finite set of values"):
            bg.fit(gaussian, np.zeros((5, 2)), method)
    with pytest.raises(bg.MethodError, match="not real"):
        bg.fit(MODEL, np.ones((5, 4, 4)), "score_matching")
    with pytest.raises(bg.IntractableNormalizerError, match="pseudo_likelihood"):
        bg.fit(bg.models.Ising((16, 16)), np.ones((3, 16, 16)), "exact_mle")
    with pytest.raises(bg.DataError, match="datum 1"):
        bg.fit(MODEL, np.stack([np.ones((4, 4)), np.zeros((4, 4))]), "exact_mle")


def test_a_nan_loss_mid_fit_stops_the_fit(data):
    class Exploding(PseudoLikelihood):
        def per_datum_loss(self, model, params, x, key, state):
            base = super().per_datum_loss(model, params, x, key, state)
            return jnp.where(params["beta"] > 0.1, jnp.nan, base)

    result = bg.fit(MODEL, data, Exploding(), optimizer=optax.sgd(0.002), num_steps=200)
    assert not result.converged
    assert result.failed_step is not None and 0 < result.failed_step < 200
    assert np.isnan(result.loss_trace[result.failed_step :]).all()
    assert np.isfinite(result.loss_trace[: result.failed_step]).all()
    assert result.params["beta"] <= 0.1  # the last finite parameters are kept


def test_gaussian_exact_mle_is_the_closed_form():
    model = bg.models.Gaussian(2)
    cov = np.array([[1.0, 0.4], [0.4, 2.0]])
    x = np.asarray(
        model.sample(
            jax.random.key(1), {"mu": np.array([1.0, -1.0]), "precision": np.linalg.inv(cov)}, 500
        )
    )
    result = bg.fit(model, x, "exact_mle", num_steps=300)
    assert result.cov_names == [
        "mu[0]",
        "mu[1]",
        "precision[0,0]",
        "precision[0,1]",
        "precision[1,0]",
        "precision[1,1]",
    ]
    np.testing.assert_allclose(result.params["mu"], x.mean(0), atol=1e-6)
    np.testing.assert_allclose(
        result.params["precision"], np.linalg.inv(np.cov(x.T, bias=True)), atol=1e-6
    )
    # Standard error of the mean from the sandwich equals sqrt(diag(S) / n).
    np.testing.assert_allclose(
        result.stderr["mu"], np.sqrt(np.diag(np.cov(x.T, bias=True)) / 500), rtol=1e-6
    )


@pytest.mark.slow
def test_score_matching_equals_the_gaussian_closed_form():
    # For a Gaussian, score matching's estimate is the MLE: the sample mean and the inverse
    # of the biased sample covariance (Hyvärinen 2005, section 3).
    model = bg.models.Gaussian(3)
    cov = np.array([[1.0, 0.4, 0.0], [0.4, 2.0, -0.3], [0.0, -0.3, 0.5]])
    truth = {"mu": np.array([1.0, -1.0, 0.5]), "precision": np.linalg.inv(cov)}
    x = np.asarray(model.sample(jax.random.key(3), truth, 400))
    result = bg.fit(model, x, "score_matching", num_steps=300)
    assert result.converged and result.normalizer == "avoided: scores in x only"
    np.testing.assert_allclose(result.params["mu"], x.mean(0), atol=1e-6)
    np.testing.assert_allclose(
        result.params["precision"], np.linalg.inv(np.cov(x.T, bias=True)), atol=1e-6
    )


def test_to_arviz_holds_draws_from_the_sampling_distribution(data):
    result = bg.fit(MODEL, data, "pseudo_likelihood")
    tree = result.to_arviz(num_draws=4000)
    post = tree["posterior"]
    assert post["beta"].shape == (1, 4000) and tree.attrs["side"] == "frequentist"
    assert tree.attrs["normalizer"] == "avoided: full conditionals only"
    for name in ("beta", "h"):
        draws = np.asarray(post[name]).ravel()
        # Mean within 4 Monte Carlo standard errors of the estimate; sd within 5% of the SE.
        assert abs(draws.mean() - result.params[name]) < 4 * result.stderr[name] / np.sqrt(4000)
        np.testing.assert_allclose(draws.std(), result.stderr[name], rtol=0.05)


def test_sandwich_is_formed_in_identified_coordinates():
    # The symmetric precision has 3 identified coordinates in 2-D, not 4: a sandwich over the
    # 4 raw entries would have a singular Hessian for score matching (NaN standard errors).
    model = bg.models.Gaussian(2)
    x = model.sample(jax.random.key(0), {"mu": np.zeros(2), "precision": np.eye(2)}, 500)
    result = bg.fit(model, x, "score_matching", num_steps=300)
    assert np.isfinite(result.cov).all() and (np.diag(result.cov) > 0).all()
    np.testing.assert_allclose(result.cov, result.cov.T)
    # The duplicated off-diagonal entries are perfectly correlated.
    i, j = result.cov_names.index("precision[0,1]"), result.cov_names.index("precision[1,0]")
    np.testing.assert_allclose(result.cov[i, j], result.cov[i, i], rtol=1e-9)


def test_sliced_score_matching_lands_within_three_standard_errors():
    model = bg.models.Gaussian(2)
    cov = np.array([[1.0, 0.4], [0.4, 2.0]])
    truth = {"mu": np.array([1.0, -1.0]), "precision": np.linalg.inv(cov)}
    x = model.sample(jax.random.key(0), truth, 2000)
    result = bg.fit(model, x, "sliced_score_matching", key=jax.random.key(1), num_steps=300)
    assert result.converged and result.method == "sliced_score_matching"
    for name in ("mu", "precision"):
        z = (result.params[name] - truth[name]) / result.stderr[name]
        assert (np.abs(z) < 3).all(), (name, z)
