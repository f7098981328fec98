"""Epsilon-greedy schedule of the value methods: per-actor final epsilons and linear annealing."""

import collections

import numpy as np
import pytest

from actor.exploration import draw_final_epsilon, epsilon_at

FINALS, PROBS = (0.1, 0.01, 0.5), (0.4, 0.3, 0.3)


def test_final_epsilons_follow_the_paper_distribution():
    n = 20_000
    counts = collections.Counter(draw_final_epsilon(FINALS, PROBS, seed=7, actor_id=i) for i in range(n))
    assert set(counts) == set(FINALS)
    for final, p in zip(FINALS, PROBS):
        # 5 standard deviations of a binomial proportion: fails only if the distribution is wrong
        assert abs(counts[final] / n - p) < 5 * np.sqrt(p * (1 - p) / n), (final, counts)


def test_draw_is_reproducible_and_differs_across_actors_and_seeds():
    draws = [draw_final_epsilon(FINALS, PROBS, seed=0, actor_id=i) for i in range(50)]
    assert draws == [draw_final_epsilon(FINALS, PROBS, seed=0, actor_id=i) for i in range(50)]
    assert len(set(draws)) == 3
    assert draws != [draw_final_epsilon(FINALS, PROBS, seed=1, actor_id=i) for i in range(50)]


@pytest.mark.parametrize("final", FINALS)
def test_annealing_is_linear_and_ends_at_the_configured_frame(final):
    anneal = 4_000_000
    assert epsilon_at(0, final, anneal) == 1.0
    assert epsilon_at(anneal / 2, final, anneal) == pytest.approx((1.0 + final) / 2)
    assert epsilon_at(anneal - 40, final, anneal) > final
    assert epsilon_at(anneal, final, anneal) == pytest.approx(final)
    assert epsilon_at(10 * anneal, final, anneal) == pytest.approx(final)
