"""bg.compare against closed forms: the Gaussian MLE is the sample mean and inverse biased
covariance, its held-out log-likelihood is computed directly, the Ising AIS held-out
log-likelihood agrees with the exact one; skipped methods, files, plots and errors."""

import json

import jax
import matplotlib
import numpy as np
import pytest
from scipy.stats import multivariate_normal

import bayesgen as bg
from bayesgen.cli import main
from bayesgen.evaluation import JSON_SCHEMA, applicable_methods, compare
from bayesgen.evaluation.compare import _heldout

matplotlib.use("Agg")

GAUSSIAN = bg.models.Gaussian(2)
TRUTH = {"mu": np.array([0.5, -1.0]), "precision": np.array([[2.0, 0.3], [0.3, 1.0]])}


@pytest.fixture(scope="module")
def comparison():
    data = GAUSSIAN.sample(jax.random.key(0), TRUTH, 400)
    heldout = GAUSSIAN.sample(jax.random.key(1), TRUTH, 400)
    methods = ["exact_mle", "score_matching", "nuts", "pseudo_likelihood"]
    cmp = compare(
        GAUSSIAN,
        data,
        methods,
        truth=TRUTH,
        heldout=heldout,
        key=jax.random.key(2),
        num_warmup=300,
        num_samples=300,
        num_chains=2,
    )
    return cmp, np.asarray(data), np.asarray(heldout)


@pytest.mark.slow
def test_rows_skips_and_closed_forms(comparison):
    cmp, data, heldout = comparison
    t = cmp.table.set_index("method")
    assert list(t.index) == ["exact_mle", "score_matching", "nuts"]
    assert (
        "pseudo_likelihood" in cmp.skipped
        and "not a finite set" in cmp.skipped["pseudo_likelihood"]
    )
    assert list(t["side"]) == ["frequentist", "frequentist", "bayesian"]
    mean, cov = data.mean(0), np.cov(data.T, bias=True)
    precision = np.linalg.inv(cov)
    for method in ("exact_mle", "score_matching"):  # both equal the closed-form MLE
        np.testing.assert_allclose(t.loc[method, ["mu[0]", "mu[1]"]], mean, rtol=1e-6)
        np.testing.assert_allclose(t.loc[method, "precision[0,1]"], precision[0, 1], rtol=1e-5)
        np.testing.assert_allclose(t.loc[method, "mu[0] error"], mean[0] - 0.5, rtol=1e-6)
        expected = multivariate_normal(mean, cov).logpdf(heldout).mean()
        np.testing.assert_allclose(t.loc[method, "heldout loglik"], expected, rtol=1e-6)
    # Intervals bracket the estimates; the Bayesian row reports its cost and diagnostics.
    assert (t["mu[0] lo"] < t["mu[0]"]).all() and (t["mu[0]"] < t["mu[0] hi"]).all()
    assert t.loc["nuts", "grad evals"] > 0 and t.loc["nuts", "ess/s"] > 0
    assert t.loc["nuts", "max r-hat"] < 1.05
    # The posterior mean is the sample mean up to Monte Carlo error (the N(0, 10²) prior
    # moves it by about 1e-4 of a posterior sd at n = 400).
    post = cmp.results["nuts"]
    draws = post.samples["mu"][..., 0]
    mcse = draws.std() / np.sqrt(post.diagnostics()["mu[0]"]["ess_bulk"])
    assert abs(t.loc["nuts", "mu[0]"] - mean[0]) < 4 * mcse


def test_json_markdown_plot_and_arviz(comparison, tmp_path):
    cmp, _, _ = comparison
    path = tmp_path / "out" / "cmp.json"
    cmp.to_json(path)
    doc = json.loads(path.read_text())
    assert doc["schema"] == JSON_SCHEMA and doc["n"] == 400 and len(doc["rows"]) == 3
    assert doc["rows"][0]["ess/s"] is None  # NaN is written as null
    assert list(path.parent.iterdir()) == [path]
    assert cmp.to_markdown().count("\n") >= 4
    fig = cmp.plot(tmp_path / "cmp.png")
    assert len(fig.axes) == len(cmp.parameters) == 5 and (tmp_path / "cmp.png").stat().st_size
    trees = cmp.to_arviz()
    assert set(trees) == {"exact_mle", "score_matching", "nuts"}
    assert trees["exact_mle"].attrs["side"] == "frequentist"


def test_ais_heldout_agrees_with_the_exact_one():
    class NoExactZ(bg.models.Ising):  # as if log Z were out of reach
        has_exact_normalizer = False

    model = bg.models.Ising((4, 4))
    params = {"beta": 0.3, "h": 0.05}
    heldout = model.sample(jax.random.key(3), params, 300)
    exact, exact_se, how = _heldout(model, params, heldout, jax.random.key(4))
    assert how == "exact" and exact_se == 0
    nz = NoExactZ((4, 4))
    assert not nz.has_exact_normalizer
    estimate, se, how = _heldout(nz, params, heldout, jax.random.key(4))
    assert how == "ais" and 0 < se < 0.05
    assert abs(estimate - exact) < 3 * se


def test_applicable_methods_and_unknown_names():
    assert applicable_methods(bg.models.Ising((4, 4)))[:2] == ["exact_mle", "pseudo_likelihood"]
    big = applicable_methods(bg.models.Ising((16, 16)))
    assert "nuts" not in big and "exact_mle" not in big and "exchange" in big
    with pytest.raises(bg.MethodError, match="unknown method 'gibbs'"):
        compare(GAUSSIAN, np.zeros((5, 2)), ["exact_mle", "gibbs"])


@pytest.mark.slow
def test_cli_compare_writes_json_and_plot(tmp_path, capsys):
    out, plot = tmp_path / "c.json", tmp_path / "c.png"
    args = ["compare", "gaussian", "--n", "200", "--methods", "exact_mle,nuts,ratio_matching"]
    args += ["--warmup", "200", "--draws", "200", "--chains", "2"]
    assert main([*args, "--json", str(out), "--plot", str(plot)]) == 0
    text = capsys.readouterr().out
    assert "exact_mle" in text and "nuts" in text and "skipped ratio_matching" in text
    assert json.loads(out.read_text())["schema"] == JSON_SCHEMA and plot.stat().st_size > 0
    assert main(["compare", "gaussian", "--methods", "exact_mle,gibbs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown method 'gibbs'" in err
