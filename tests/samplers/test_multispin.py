"""Multi-spin coded Gibbs: packing is lossless, the bitwise adder counts up neighbours
exactly, the chains sample the exact law, through the compact low bits and through their
fallback (expectations from enumeration and the transfer
matrix, within 4 standard errors over independent chains; the same check rejects a wrong
coupling) and the 32 chains of a word are independent (they do not coalesce)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayesgen as bg
from bayesgen.samplers import multispin


def test_pack_and_unpack_are_inverse_and_chain_counts_are_checked():
    spins = jnp.where(jax.random.bernoulli(jax.random.key(0), 0.5, (64, 3, 5)), 1.0, -1.0)
    words = multispin.pack(spins)
    assert words.shape == (2, 3, 5) and words.dtype == jnp.uint32
    np.testing.assert_array_equal(multispin.unpack(words), spins)
    with pytest.raises(ValueError, match="multiple of 32"):
        multispin.pack(spins[:40])
    with pytest.raises(ValueError, match="multiple of 32"):
        multispin.init(jax.random.key(0), (4, 4), 48)
    with pytest.raises(ValueError, match="packed words"):
        multispin.run(jax.random.key(0), spins, 0.3, 0.0, 1)  # float spins, not words


@pytest.mark.parametrize("shape", [(4, 4), (3, 5)])
def test_the_bitwise_adder_counts_up_neighbours(shape):
    words = jax.random.bits(jax.random.key(1), (3, *shape), jnp.uint32)
    b0, b1, b2 = (multispin.unpack(b) > 0 for b in multispin.up_neighbours(words))
    up = multispin.unpack(words) > 0
    count = sum(np.roll(up, s, a) for s in (1, -1) for a in (-1, -2))
    np.testing.assert_array_equal(b0 + 2 * b1 + 4 * b2, count)


def _chain_means(shape, beta, h, num_chains=2048, burn_in=200, draws=20, thin=10):
    """Each chain's time average of (bond sum, spin sum) over ``draws`` draws."""
    model = bg.models.Ising(shape)
    run = jax.jit(multispin.run, static_argnums=4)
    key = jax.random.key(7)
    words = run(key, multispin.init(key, shape, num_chains), beta, h, burn_in)
    total = 0.0
    for t in range(draws):
        words = run(jax.random.fold_in(key, t + 1), words, beta, h, thin)
        total = total + jax.vmap(model.statistics)(multispin.unpack(words))
    return np.asarray(total) / draws


@pytest.mark.parametrize(
    ("shape", "beta", "h"),
    [((4, 4), 0.3, 0.05), ((3, 4), -0.35, 0.2), ((8, 8), 0.4, -0.1)],
    ids=["enumeration", "three-colours-antiferro", "transfer-matrix"],
)
def test_chains_sample_the_exact_law(shape, beta, h):
    means = _chain_means(shape, beta, h)  # independent chains: SE from their spread
    mean, se = means.mean(0), means.std(0, ddof=1) / np.sqrt(len(means))
    model = bg.models.Ising(shape)
    exact = np.asarray(model.expected_statistics({"beta": beta, "h": h}))
    assert (np.abs(mean - exact) < 4 * se).all(), (mean, exact, se)
    wrong = np.asarray(model.expected_statistics({"beta": beta + 0.05, "h": h}))
    assert (np.abs(mean - wrong) > 4 * se).any(), (mean, wrong, se)  # the check has power


@pytest.mark.parametrize("h", [0.3, -1.1])
def test_each_update_is_up_with_its_24_bit_probability(h):
    """At β = 0 every update is up with probability floor(sigmoid(2h) 2^24) / 2^24; 2e7
    updates measure it to about 1e-4, and skipping the low bits would be off by ~1e-3."""
    words = multispin.init(jax.random.key(5), (16, 16), 4096)
    sweep = jax.jit(lambda key: jax.lax.population_count(multispin.sweep(key, words, 0.0, h)))
    count = sum(int(np.asarray(sweep(jax.random.key(i)), np.int64).sum()) for i in range(20))
    updates = 20 * 4096 * 16 * 16
    p = np.floor(1 / (1 + np.exp(-2 * h)) * 2**24) / 2**24
    assert abs(int(count) / updates - p) < 4 * np.sqrt(p * (1 - p) / updates), (count, p)


def test_the_fallback_for_a_full_buffer_samples_the_same_law(monkeypatch):
    """With a buffer of one word every colour overflows it, so every word gets the low bits."""
    monkeypatch.setattr(multispin, "_capacity", lambda sites: 1)
    means = _chain_means((4, 4), 0.3, 0.05, num_chains=1024)
    mean, se = means.mean(0), means.std(0, ddof=1) / np.sqrt(len(means))
    exact = np.asarray(bg.models.Ising((4, 4)).expected_statistics({"beta": 0.3, "h": 0.05}))
    assert (np.abs(mean - exact) < 4 * se).all(), (mean, exact, se)


def test_the_chains_of_a_word_are_independent():
    """From one shared start (every chain all up) chains driven by shared random bits would
    coalesce; independent chains overlap only through the mean spin, q = m^2 per site."""
    shape, beta, h = (4, 4), 0.3, 0.05
    words = jnp.full((1, *shape), 0xFFFFFFFF, jnp.uint32)
    spins = multispin.unpack(multispin.run(jax.random.key(3), words, beta, h, 50))
    flat = np.asarray(spins).reshape(32, -1)

    def mean_overlap(chains):  # over every pair of distinct chains
        total = chains.sum(0)
        pairs = len(chains) * (len(chains) - 1)
        return float(((total**2).sum() - (chains**2).sum()) / (pairs * chains.shape[1]))

    q = mean_overlap(flat)
    leave_one_out = np.array([mean_overlap(np.delete(flat, a, 0)) for a in range(32)])
    se = np.sqrt(31 / 32 * ((leave_one_out - leave_one_out.mean()) ** 2).sum())  # jackknife
    m = float(bg.models.Ising(shape).expected_statistics({"beta": beta, "h": h})[1]) / 16
    assert abs(q - m**2) < 4 * se, (q, m**2, se)
