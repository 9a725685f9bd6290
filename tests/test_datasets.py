"""The shipped datasets are the published ones: sizes, tie counts, degrees and summaries
as their sources print them."""

import numpy as np
import pytest

import bayesgen as bg


def test_florentine_networks_are_ergms_flomarriage_and_flobusiness():
    marriage, business = bg.datasets.florentine_marriage(), bg.datasets.florentine_business()
    assert marriage.nodes == business.nodes and marriage.nodes[8] == "Medici"
    assert (marriage.num_ties, business.num_ties) == (20, 15)
    deg = marriage.adjacency.sum(1).astype(int).tolist()
    assert deg == [1, 3, 2, 3, 3, 1, 4, 1, 6, 1, 3, 0, 3, 2, 4, 3]  # Pucci (11) an isolate
    isolates = [v for v, d in zip(business.nodes, business.adjacency.sum(1), strict=True) if d == 0]
    assert isolates == ["Acciaiuoli", "Albizzi", "Pucci", "Ridolfi", "Strozzi"]
    a = marriage.adjacency
    assert np.trace(a @ a @ a) / 6 == 3  # ergm's summary(flomarriage ~ triangle)
    wealth = marriage.attributes["wealth"]
    assert wealth.sum() == 681 and wealth[14] == 146  # mean 42.56; Strozzi the richest
    rows, cols = np.triu_indices(16, 1)
    assert (a[rows, cols] * (wealth[rows] + wealth[cols])).sum() == 2168  # nodecov.wealth


def test_karate_club_digits_and_horse_kicks():
    karate = bg.datasets.karate_club()
    assert (karate.num_nodes, karate.num_ties) == (34, 78)
    assert karate.adjacency.sum(1)[[0, 33]].tolist() == [16, 17]  # the two leaders
    assert karate.attributes["faction"].sum() == 17  # the club split 17 / 17
    bits, labels = bg.datasets.digits_bits()
    assert bits.shape == (1797, 64) and set(np.unique(bits)) == {0.0, 1.0}
    assert np.bincount(labels).tolist()[:3] == [178, 182, 177]
    kicks = bg.datasets.horse_kicks()
    assert kicks.shape == (200,) and kicks.mean() == pytest.approx(0.61)
    assert bg.datasets.load("florentine_marriage").shape == (1, 16, 16)
    with pytest.raises(bg.DataError, match="unknown dataset 'flo'"):
        bg.datasets.load("flo")
