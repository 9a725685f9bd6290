"""Coverage studies: vmapped refits of simulated datasets; Wald intervals of the exact MLE
and of the pseudo-likelihood, and credible intervals of NUTS and of the exchange algorithm
(every chain of every replicate in one computation), cover the truth at their nominal rate
(exact binomial test)."""

import json

import jax
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.evaluation import COVERAGE_SCHEMA, coverage_study


@pytest.mark.slow
def test_coverage_is_nominal_on_both_sides(tmp_path):
    model = bg.models.Ising((4, 4))
    truth = {"beta": 0.3, "h": 0.05}
    study = coverage_study(
        model,
        truth,
        # exchange at one step per draw: the budget below is NUTS's, and 300 + 300 walk
        # steps per replicate suffice for intervals (its default, 2 d = 4 steps a draw,
        # would cost four times as much)
        ["exact_mle", "pseudo_likelihood", "nuts", bg.bayesian.Exchange(thinning=1)],
        n=300,
        replicates=200,
        key=jax.random.key(11),
        num_warmup=300,
        num_samples=300,
    )
    t = study.table
    assert list(dict.fromkeys(t["method"])) == [
        "exact_mle",
        "pseudo_likelihood",
        "nuts",
        "exchange",
    ]
    assert (t["finite"] == 200).all() and not study.skipped
    # Each replicate's own verdict: the estimators converge with sandwich errors > 0 on
    # every dataset; the short chains of this budget are flagged where a user would be told
    # to run longer (exchange's 1,200 draws at one step each give an ESS below 400 on every
    # replicate; 17 of NUTS's replicates have an R-hat above 1.01 measured).
    ok = t.set_index(["method", "parameter"])["replicates ok"]
    assert (ok[["exact_mle", "pseudo_likelihood"]] == 200).all()
    assert (ok["nuts"] >= 150).all() and (ok["exchange"] < 200).all()
    why = t.set_index("method")["why"]
    assert (why[["exact_mle", "pseudo_likelihood"]] == "").all() and "ess" in why["exchange"].iloc[
        0
    ]
    # Sandwich intervals at the nominal rate: a method with standard errors off by 30%
    # would cover 82% or 99.5% and fail this test (p < 1e-6 at 200 replicates).
    assert (t["binomial p"] > 0.01).all(), t[["method", "parameter", "coverage"]]
    assert (np.abs(t["bias"]) < 3.5 * t["bias se"]).all()  # consistent estimators
    # Pseudo-likelihood is less efficient: wider intervals than the MLE, for each parameter.
    width = t.pivot(index="parameter", columns="method", values="mean width")
    assert (width["pseudo_likelihood"] > width["exact_mle"]).all()
    # Bernstein-von Mises: credible intervals as wide as the MLE's Wald intervals, within
    # 4 standard errors of the mean widths (unpaired, so conservative: the datasets are
    # shared).
    se = t.pivot(index="parameter", columns="method", values="width se")
    for a, b in (("nuts", "exact_mle"), ("exchange", "nuts")):
        assert (np.abs(width[a] - width[b]) < 4 * np.hypot(se[a], se[b])).all(), (a, b)
    study.to_json(tmp_path / "study.json")
    doc = json.loads((tmp_path / "study.json").read_text())
    assert doc["schema"] == COVERAGE_SCHEMA and doc["replicates"] == 200


def test_bad_studies_are_package_errors():
    model = bg.models.Ising((4, 4))
    with pytest.raises(bg.MethodError, match="replicates"):
        coverage_study(model, {"beta": 0.3, "h": 0.0}, ["exact_mle"], n=100, replicates=1)
    with pytest.raises(bg.MethodError, match="unknown method"):
        coverage_study(model, {"beta": 0.3, "h": 0.0}, ["mle"], n=100, replicates=10)
    with pytest.raises(bg.ParameterError):
        coverage_study(model, {"beta": 0.3}, ["exact_mle"], n=100, replicates=10)


@pytest.mark.slow
def test_a_study_in_chunks_resumes_what_was_lost_and_nothing_else(tmp_path, monkeypatch):
    """Written in chunks, a study gives every replicate the key and dataset it gets at once
    (the same fits); a rerun reads the finished chunks and recomputes only the missing and
    damaged ones; a folder of another study's chunks is refused, not mixed in."""
    from bayesgen.evaluation import studies

    model = bg.models.Ising((3, 3), field=False)
    kw = dict(n=40, replicates=4, key=jax.random.key(3), num_warmup=100, num_samples=100)
    kw["num_chains"] = 2
    methods = ["exact_mle", "nuts"]
    whole = coverage_study(model, {"beta": 0.3}, ["exact_mle"], **kw)
    seen = []
    first = coverage_study(
        model,
        {"beta": 0.3},
        methods,
        out=tmp_path,
        chunk_size=2,
        on_result=lambda m, values, s: seen.append((m, values["finite"].size)),
        **kw,
    )
    assert seen == [("exact_mle", 4), ("nuts", 4)]
    names = ["exact_mle.0-2.json", "exact_mle.2-4.json", "nuts.0-2.json", "nuts.2-4.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    columns = ["bias", "rmse", "coverage", "mean width", "replicates ok"]
    np.testing.assert_allclose(first.table[columns][:1], whole.table[columns], rtol=1e-10)
    assert first.table["finite"].tolist() == [4, 4]

    (tmp_path / "nuts.2-4.json").unlink()  # lost
    (tmp_path / "exact_mle.0-2.json").write_text('{"config": ')  # damaged
    computed = []
    run = studies._replicate_values
    monkeypatch.setattr(
        studies,
        "_replicate_values",
        lambda *a, **k: computed.append((a[2].name, a[3].shape[0])) or run(*a, **k),
    )
    again = coverage_study(model, {"beta": 0.3}, methods, out=tmp_path, chunk_size=2, **kw)
    assert computed == [("exact_mle", 2), ("nuts", 2)]
    drop = ["seconds"]
    assert again.table.drop(columns=drop).equals(first.table.drop(columns=drop))

    with pytest.raises(bg.MethodError, match=r"other settings .*num_samples"):
        coverage_study(
            model, {"beta": 0.3}, methods, out=tmp_path, chunk_size=2, **{**kw, "num_samples": 50}
        )
    with pytest.raises(bg.MethodError, match="one per replicate"):
        bg.frequentist.fit_replicates(
            model,
            model.sample(jax.random.key(0), {"beta": 0.3}, 8)[:, None][:6],
            "exact_mle",
            key=jax.random.split(jax.random.key(0), 5),
        )
