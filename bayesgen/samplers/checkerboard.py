"""Checkerboard Gibbs sampling of the periodic 2-D Ising model, vectorised over chains.

Sites of one colour have no bonds between them, so all of them are resampled at once from
their exact conditionals,

    P(s_i = +1 | rest) = sigmoid(2 (β Σ_{j ~ i} s_j + h)),

and a *sweep* updates every colour once. On a torus with both sides even, the two colours
of (i + j) mod 2 suffice; when a side is odd the wrap-around bond joins two sites of the
same parity, so a third colour is used: colour(i, j) = (p(i) + q(j)) mod K with p, q proper
colourings of the two cycles. Every update is exact, so each sweep leaves p invariant.

Functional, blackjax-style: :func:`init` draws a starting state, :func:`sweep` is the
kernel (jit/vmap-able; the key is an argument, never stored), and :func:`sample` runs
burn-in and thinned draws as one ``lax.scan``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["init", "lattice_coloring", "sample", "sweep"]


def _cycle_coloring(n: int) -> np.ndarray:
    c = np.arange(n) % 2
    if n % 2:
        c[-1] = 2
    return c


def lattice_coloring(shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """A proper colouring of the L x M torus: ``(colours (L, M) int array, number of colours)``."""
    L, M = shape
    if L < 2 or M < 2:
        raise ValueError(f"the lattice needs both sides >= 2; got {shape}")
    num_colors = 2 if L % 2 == 0 and M % 2 == 0 else 3
    colors = (_cycle_coloring(L)[:, None] + _cycle_coloring(M)[None, :]) % num_colors
    return colors, num_colors


def init(key: jax.Array, shape: tuple[int, int], num_chains: int = 1) -> jax.Array:
    """Independent uniform random spins, shape ``(num_chains, L, M)``."""
    dtype = jnp.asarray(0.0).dtype
    return jnp.where(jax.random.bernoulli(key, 0.5, (num_chains, *shape)), 1.0, -1.0).astype(dtype)


def sweep(key: jax.Array, spins: jax.Array, beta, h) -> jax.Array:
    """One checkerboard Gibbs sweep of ``spins`` (shape ``(..., L, M)``); returns new spins."""
    colors, num_colors = lattice_coloring(spins.shape[-2:])
    colors = jnp.asarray(colors)
    keys = jax.random.split(key, num_colors)
    for c in range(num_colors):
        neighbours = (
            jnp.roll(spins, 1, -1)
            + jnp.roll(spins, -1, -1)
            + jnp.roll(spins, 1, -2)
            + jnp.roll(spins, -1, -2)
        )
        p_up = jax.nn.sigmoid(2.0 * (beta * neighbours + h))
        proposal = jnp.where(jax.random.uniform(keys[c], spins.shape) < p_up, 1.0, -1.0)
        spins = jnp.where(colors == c, proposal.astype(spins.dtype), spins)
    return spins


def sample(
    key: jax.Array,
    beta,
    h,
    shape: tuple[int, int],
    *,
    num_chains: int = 1,
    num_samples: int = 1,
    burn_in: int = 100,
    thin: int = 1,
    init_spins: jax.Array | None = None,
) -> jax.Array:
    """Run ``num_chains`` Gibbs chains: ``burn_in`` sweeps, then ``num_samples`` draws
    ``thin`` sweeps apart.

    Args:
      key: a PRNG key.
      beta, h: coupling and field (scalars; may be traced).
      shape: the lattice ``(L, M)``, both sides >= 2.
      num_chains, num_samples, burn_in, thin: fixed lengths (static).
      init_spins: starting spins ``(num_chains, L, M)``; uniform random when ``None``.

    Returns:
      Spins of shape ``(num_chains, num_samples, L, M)`` in the default float dtype.
    """
    shape = tuple(int(s) for s in shape)
    lattice_coloring(shape)  # validates the shape
    if num_samples < 1 or burn_in < 0 or thin < 1 or num_chains < 1:
        raise ValueError(
            "need num_chains >= 1, num_samples >= 1, burn_in >= 0 and thin >= 1; got "
            f"{num_chains}, {num_samples}, {burn_in}, {thin}"
        )
    key_init, key_burn, key_draw = jax.random.split(key, 3)
    spins = init(key_init, shape, num_chains) if init_spins is None else init_spins

    def run(s, k, n):
        return jax.lax.fori_loop(0, n, lambda i, s: sweep(jax.random.fold_in(k, i), s, beta, h), s)

    spins = run(spins, key_burn, burn_in)

    def draw(s, k):
        s = run(s, k, thin)
        return s, s

    _, draws = jax.lax.scan(draw, spins, jax.random.split(key_draw, num_samples))
    return jnp.swapaxes(draws, 0, 1)
