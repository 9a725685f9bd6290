"""Multi-spin coded checkerboard Gibbs sampling of the periodic 2-D Ising model: 32 chains
per machine word.

The chains are bit-packed: bit ``b`` of ``words[w, i, j]`` (``uint32``) is the spin of chain
``32 w + b`` at site ``(i, j)`` (1 for +1, 0 for -1), so every bitwise operation on a word
acts on 32 chains at once. A sweep resamples each colour of :func:`checkerboard.lattice_coloring`
from its exact conditional, as :mod:`bayesgen.samplers.checkerboard` does, in three bitwise
steps per colour:

1. the number of up neighbours, k in 0..4, of every chain at every site, as three bit-planes
   (``b0 + 2 b1 + 4 b2``) from a bitwise adder over the four rolled words;
2. the conditional's threshold, P(s = +1 | k) = sigmoid(2 (β (2k - 4) + h)), as a 24-bit
   integer T_k = floor(P 2^24), one bit-plane per bit, selected per chain from the five
   values by multiplexers on the bit-planes of k;
3. the new spin = [U < T_k] for a uniform 24-bit U per chain and site, compared bit by bit
   from its most significant bit: 8 random words (one per bit, each a bit of U for 32
   chains) decide the comparison for all but a fraction 2^-8 of the chains, those whose
   high bits equal T's; only the words holding such a chain (about 12% of them) get the
   16 low bits, gathered into a buffer of fixed size (``jnp.nonzero(size=...)``) and
   compared from the least significant bit (the carry is ``R | x`` where T's bit is 1,
   ``R & x`` where it is 0). When more words need them than the buffer holds (6 Poisson
   standard deviations beyond the mean: practically never) every word gets them. Either
   way the result is [U < T_k] with all 24 bits of a uniform U, exactly.

Each chain has its own random bits (chains are independent, as with
:func:`checkerboard.run`); the conditional probabilities are those of a float32 sampler's
comparison of a 24-bit uniform with P, quantised to 2^-24 (P = 1 is read as 1 - 2^-24).
The random bits are the cost: about 10 words per 32 updates (8 high, the low ones for the
12%), against the 32 a float sampler draws. Under ``vmap`` the buffer's fallback test
becomes a select and both branches run: pack more chains per call rather than vmapping.

Functional, as :mod:`checkerboard`: :func:`init`, :func:`pack` and :func:`unpack`,
:func:`sweep` (jit/vmap-able, the key an argument) and :func:`run` (``num_sweeps`` sweeps in
one ``fori_loop``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from bayesgen.samplers.checkerboard import lattice_coloring

__all__ = ["BITS", "CHAINS_PER_WORD", "HIGH_BITS", "init", "pack", "run", "sweep", "unpack"]

CHAINS_PER_WORD = 32
BITS = 24  # bits of each uniform: the resolution of a float32 uniform in [0, 1)
HIGH_BITS = 8  # compared first, for every chain; the rest only where these tie with T
LOW_BITS = BITS - HIGH_BITS


def _check_chains(num_chains: int) -> int:
    if num_chains < CHAINS_PER_WORD or num_chains % CHAINS_PER_WORD:
        raise ValueError(
            f"multi-spin coding packs {CHAINS_PER_WORD} chains per word: num_chains must be a "
            f"positive multiple of {CHAINS_PER_WORD}; got {num_chains} (use "
            "bayesgen.samplers.checkerboard for other counts)"
        )
    return num_chains // CHAINS_PER_WORD


def pack(spins: jax.Array) -> jax.Array:
    """Spins ``(C, L, M)`` in {-1, +1}, C a multiple of 32, as words ``(C / 32, L, M)``."""
    num_words = _check_chains(spins.shape[0])
    bits = (spins > 0).astype(jnp.uint32).reshape(num_words, CHAINS_PER_WORD, *spins.shape[1:])
    shifts = jnp.arange(CHAINS_PER_WORD, dtype=jnp.uint32).reshape(-1, 1, 1)
    return jnp.sum(bits << shifts, axis=1, dtype=jnp.uint32)  # distinct bits: sum is OR


def unpack(words: jax.Array, dtype=None) -> jax.Array:
    """Words ``(W, L, M)`` as spins ``(32 W, L, M)`` in {-1, +1} (default float dtype)."""
    dtype = dtype or jnp.asarray(0.0).dtype
    shifts = jnp.arange(CHAINS_PER_WORD, dtype=jnp.uint32).reshape(-1, 1, 1)
    bits = (words[:, None] >> shifts) & jnp.uint32(1)
    return (2 * bits.astype(dtype) - 1).reshape(-1, *words.shape[1:])


def init(key: jax.Array, shape: tuple[int, int], num_chains: int = CHAINS_PER_WORD) -> jax.Array:
    """Independent uniform random spins of ``num_chains`` chains, packed: ``(C / 32, L, M)``."""
    lattice_coloring(tuple(shape))  # validates the shape
    return jax.random.bits(key, (_check_chains(num_chains), *shape), jnp.uint32)


def up_neighbours(words: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Bit-planes ``(b0, b1, b2)`` of each chain's number of up neighbours on the torus."""
    n1, n2 = jnp.roll(words, 1, -1), jnp.roll(words, -1, -1)
    n3, n4 = jnp.roll(words, 1, -2), jnp.roll(words, -1, -2)
    s1, c1 = n1 ^ n2, n1 & n2
    s2, c2 = n3 ^ n4, n3 & n4
    b0, carry = s1 ^ s2, s1 & s2
    b1 = c1 ^ c2 ^ carry
    b2 = (c1 & c2) | ((c1 ^ c2) & carry)
    return b0, b1, b2


def _threshold_masks(beta, h) -> jax.Array:
    """``(5, BITS)`` words: all ones where bit j of T_k = floor(P(up | k) 2^BITS) is set."""
    dtype = jnp.result_type(float)
    m = jnp.arange(-4.0, 5.0, 2.0, dtype=dtype)
    p = jax.nn.sigmoid(2.0 * (beta * m + h))
    t = jnp.minimum(jnp.floor(p * 2.0**BITS), 2.0**BITS - 1).astype(jnp.uint32)
    bits = (t[:, None] >> jnp.arange(BITS, dtype=jnp.uint32)[None, :]) & jnp.uint32(1)
    return jnp.uint32(0) - bits


def _threshold_bit(b0, b1, b2, masks, j):
    """Bit j of T_k for each chain, selected from the five thresholds by the bits of k."""
    m0, m1, m2, m3, m4 = (masks[k, j] for k in range(5))
    low = m0 ^ (b0 & (m1 ^ m0))  # k in {0, 1}
    high = m2 ^ (b0 & (m3 ^ m2))  # k in {2, 3}
    t = low ^ (b1 & (high ^ low))
    return t ^ (b2 & (m4 ^ t))  # k = 4 (then b0 = b1 = 0)


def _below_low_bits(b0, b1, b2, masks, random, undecided):
    """[U_low < T_low] over the LOW_BITS low bits, least significant first, where undecided."""
    x = jnp.zeros_like(b0)
    for j in range(LOW_BITS):
        t, r = _threshold_bit(b0, b1, b2, masks, j), random[j]
        x = (r & x) | (t & (r | x))  # the comparison's carry: r | x where t is 1, r & x where 0
    return x & undecided


def _capacity(sites: int) -> int:
    """Words given the low bits in one colour: the expected number with an undecided chain,
    plus 6 of its (Poisson) standard deviations and 8 (beyond that: every word, exactly)."""
    mean = (1.0 - (1.0 - 2.0**-HIGH_BITS) ** CHAINS_PER_WORD) * sites
    return min(sites, math.ceil(mean + 6.0 * math.sqrt(mean) + 8.0))


def _heat_bath(key, words, high_random, masks, colour):
    """New spins of the sites of one ``colour`` (a boolean (L, M) array) from the conditional
    given ``words``; the others unchanged."""
    b0, b1, b2 = up_neighbours(words)
    below = jnp.zeros_like(words)  # U < T decided by the high bits
    undecided = jnp.where(jnp.asarray(colour), jnp.uint32(0xFFFFFFFF), jnp.uint32(0))
    for i, j in enumerate(range(BITS - 1, LOW_BITS - 1, -1)):  # most significant first
        t, r = _threshold_bit(b0, b1, b2, masks, j), high_random[i]
        below = below | (undecided & t & ~r)
        undecided = undecided & ~(r ^ t)
    flat = undecided.ravel()
    capacity = _capacity(int(colour.sum()) * words.shape[0])
    (index,) = jnp.nonzero(flat, size=capacity, fill_value=flat.size)

    def gathered():  # the low bits only for the words that need them
        random = jax.random.bits(key, (LOW_BITS, capacity), jnp.uint32)
        b = (x.ravel().at[index].get(mode="fill", fill_value=0) for x in (b0, b1, b2))
        e = flat.at[index].get(mode="fill", fill_value=0)
        low = _below_low_bits(*b, masks, random, e)
        return jnp.zeros_like(flat).at[index].set(low, mode="drop").reshape(words.shape)

    def everywhere():  # more words than the capacity (about 1e-9 per colour and sweep)
        random = jax.random.bits(key, (LOW_BITS, *words.shape), jnp.uint32)
        return _below_low_bits(b0, b1, b2, masks, random, undecided)

    low = jax.lax.cond(jnp.count_nonzero(flat) > capacity, everywhere, gathered)
    return jnp.where(jnp.asarray(colour), below | low, words)


def sweep(key: jax.Array, words: jax.Array, beta, h) -> jax.Array:
    """One checkerboard sweep of packed ``words`` ``(W, L, M)`` at SCALAR ``beta``, ``h``."""
    if words.dtype != jnp.uint32 or words.ndim != 3:
        raise ValueError(
            "multispin works on packed words, uint32 of shape (chains / 32, L, M); got "
            f"{words.dtype} {words.shape} (pack(spins) packs (C, L, M) spins in {{-1, +1}})"
        )
    colors, num_colors = lattice_coloring(tuple(words.shape[-2:]))
    masks = _threshold_masks(beta, h)
    key_high, key_low = jax.random.split(key)
    # the high bits of one uniform per chain and site for the whole sweep (each site is
    # updated once); the low bits per colour, where needed
    high_random = jax.random.bits(key_high, (HIGH_BITS, *words.shape), jnp.uint32)
    for c in range(num_colors):
        words = _heat_bath(jax.random.fold_in(key_low, c), words, high_random, masks, colors == c)
    return words


def run(key: jax.Array, words: jax.Array, beta, h, num_sweeps: int) -> jax.Array:
    """``num_sweeps`` sweeps of packed ``words`` as one loop (jit/vmap-able; the count static)."""
    return jax.lax.fori_loop(
        0, num_sweeps, lambda i, w: sweep(jax.random.fold_in(key, i), w, beta, h), words
    )
