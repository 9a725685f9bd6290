"""Swendsen–Wang: cluster labels equal a breadth-first search of the open bonds, and chains
started far from equilibrium reach the exact law (chi-square over every configuration of
small tori: odd sides, a side of two with its doubled bonds, a field, a negative coupling),
alone and as the Ising model's kernel."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as st

import bayesgen as bg
from bayesgen.samplers import checkerboard, swendsen_wang


def _components_by_search(right, down):
    L, M = right.shape
    labels = -np.ones((L, M), int)
    for start in range(L * M):
        if labels.flat[start] >= 0:
            continue
        stack = [divmod(start, M)]
        labels[stack[0]] = start
        while stack:
            i, j = stack.pop()
            bonded = []
            if right[i, j]:
                bonded.append((i, (j + 1) % M))
            if right[i, (j - 1) % M]:
                bonded.append((i, (j - 1) % M))
            if down[i, j]:
                bonded.append(((i + 1) % L, j))
            if down[(i - 1) % L, j]:
                bonded.append(((i - 1) % L, j))
            for site in bonded:
                if labels[site] < 0:
                    labels[site] = start
                    stack.append(site)
    return labels


@pytest.mark.parametrize("shape", [(5, 7), (2, 6), (16, 16)])
def test_cluster_labels_are_the_connected_components(shape):
    key_right, key_down = jax.random.split(jax.random.key(0))
    for p in (0.3, 0.5, 0.7):  # below, at and above bond percolation on the square lattice
        right = np.asarray(jax.random.uniform(key_right, (3, *shape)) < p)
        down = np.asarray(jax.random.uniform(key_down, (3, *shape)) < p)
        labels = np.asarray(swendsen_wang.cluster_labels(jnp.asarray(right), jnp.asarray(down)))
        size = shape[0] * shape[1]
        for b in range(3):
            expected = _components_by_search(right[b], down[b]) + b * size
            np.testing.assert_array_equal(labels[b], expected)


def _exact_law(model, params):
    n = model.n_sites
    configs = np.array(list(itertools.product([-1.0, 1.0], repeat=n)))
    log_f = np.asarray(
        jax.vmap(lambda c: model.log_unnormalized(params, c.reshape(model.shape)))(configs)
    )
    return configs, np.exp(log_f - np.logaddexp.reduce(log_f))


def _chi_square_pvalue(draws, configs, prob):
    index = (
        (np.asarray(draws).reshape(len(draws), -1) > 0) * 2 ** np.arange(len(configs[0]))[::-1]
    ).sum(1)
    counts = np.bincount(index, minlength=len(configs))
    expected = len(draws) * prob
    big = expected >= 5  # pool the rare configurations into one cell
    observed = np.append(counts[big], counts[~big].sum())
    expected = np.append(expected[big], expected[~big].sum())
    return st.chisquare(observed, expected).pvalue


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shape", "beta", "h"),
    [((3, 3), 0.45, 0.15), ((2, 4), -0.35, 0.2), ((3, 4), 0.6, -0.1)],
    ids=["odd-sides", "side-two-antiferro", "cold"],
)
def test_chains_from_all_up_reach_the_exact_law(shape, beta, h):
    model = bg.models.Ising(shape, kernel="swendsen_wang")
    configs, prob = _exact_law(model, {"beta": beta, "h": h})
    n = 20_000
    start = jnp.ones((n, *shape))
    alone = jax.jit(lambda k: swendsen_wang.run(k, start, beta, h, 10))(jax.random.key(1))
    assert _chi_square_pvalue(alone, configs, prob) > 1e-3
    as_kernel = model.mcmc_run(jax.random.key(2), {"beta": beta, "h": h}, start, 10)
    assert _chi_square_pvalue(as_kernel, configs, prob) > 1e-3
    # The same check rejects a cluster update that ignores the field.
    wrong = jax.jit(lambda k: swendsen_wang.run(k, start, beta, 0.0, 10))(jax.random.key(1))
    assert _chi_square_pvalue(wrong, configs, prob) < 1e-6


def test_the_kernel_follows_the_lattice_and_the_field():
    assert bg.models.Ising((16, 16)).kernel == "swendsen_wang"
    assert bg.models.Ising((16, 16), field=False).kernel == "gibbs"
    assert bg.models.Ising((4, 4)).kernel == "gibbs"  # exact sampling: short runs only
    assert "Swendsen-Wang" in bg.models.Ising((4, 4), kernel="swendsen_wang").mcmc_kernel
    with pytest.raises(bg.errors.MethodError, match="unknown kernel"):
        bg.models.Ising((4, 4), kernel="wolff")
    # Contrastive divergence's few sweeps stay checkerboard ones (its bootstrap's cost).
    model = bg.models.Ising((16, 16))
    cd = bg.frequentist.ContrastiveDivergence()
    assert "checkerboard Gibbs" in cd.describe_normalizer(model)
    xs = jnp.ones((3, 16, 16))
    np.testing.assert_array_equal(
        model.local_mcmc_run(jax.random.key(0), {"beta": 0.4, "h": 0.1}, xs, 2),
        checkerboard.run(jax.random.key(0), xs, 0.4, 0.1, 2),
    )


@pytest.mark.slow
def test_clusters_decorrelate_the_magnetisation_that_gibbs_keeps():
    """Exchange's sweep choice on 16 x 16 with a field near the critical coupling: the
    cluster kernel's scores forget the data within 10 sweeps; Gibbs's magnetisation still
    remembers them after 80 (it needed 320)."""
    from bayesgen.bayesian.exchange import DEFAULT_SWEEPS
    from bayesgen.samplers.mixing import correlation_se, sweeps_to_decorrelate

    target = bg.bayesian.Exchange().max_lag_correlation
    truth = {"beta": 0.4, "h": 0.0}
    x = bg.models.Ising((16, 16)).sample(jax.random.key(0), truth, 32)
    chosen = {}
    for kernel in ("gibbs", "swendsen_wang"):
        model = bg.models.Ising((16, 16), kernel=kernel)
        chosen[kernel] = jax.jit(
            lambda k, model=model: sweeps_to_decorrelate(
                model, truth, x, k, start=DEFAULT_SWEEPS, max_sweeps=80, target=target
            )
        )(jax.random.key(1))
    sweeps, profile = chosen["swendsen_wang"]
    assert int(sweeps) <= 2 * DEFAULT_SWEEPS and float(profile[0]) <= target
    sweeps, profile = chosen["gibbs"]  # at the cap, and far above the target for its noise
    rho = float(profile[0])
    assert int(sweeps) == 80 and rho > target + 4 * float(correlation_se(rho))


@pytest.mark.slow
def test_vmapped_over_traced_parameters_equals_a_loop_and_one_lattice_is_one_batch():
    keys = jax.random.split(jax.random.key(3), 3)
    betas, hs = jnp.array([0.3, -0.4, 0.6]), jnp.array([0.1, 0.0, -0.2])
    xs = jnp.where(jax.random.bernoulli(jax.random.key(4), 0.5, (3, 2, 16, 16)), 1.0, -1.0)
    vmapped = jax.jit(jax.vmap(swendsen_wang.sweep))(keys, xs, betas, hs)
    one_by_one = jax.jit(swendsen_wang.sweep)
    for i in range(3):
        np.testing.assert_array_equal(vmapped[i], one_by_one(keys[i], xs[i], betas[i], hs[i]))
    model = bg.models.Ising((16, 16))  # the clusters' kernel, on one unbatched lattice
    params = {"beta": 0.4, "h": 0.1}
    one = model.mcmc_sweep(jax.random.key(5), params, xs[0, 0])
    batch = model.mcmc_run(jax.random.key(5), params, xs[0, :1], 1)
    assert one.shape == (16, 16)
    np.testing.assert_array_equal(one, batch[0])
