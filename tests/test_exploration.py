"""Epsilon-greedy schedule of the value methods: per-env final epsilons and linear annealing."""

import collections

import numpy as np
import pytest

from actor.exploration import draw_final_epsilons, epsilon_at

FINALS, PROBS = (0.1, 0.01, 0.5), (0.4, 0.3, 0.3)


def test_final_epsilons_follow_the_paper_distribution():
    n = 20_000
    draws = np.concatenate([draw_final_epsilons(FINALS, PROBS, seed=7, actor_id=i, num_envs=8) for i in range(n // 8)])
    counts = collections.Counter(float(d) for d in draws.astype(np.float64).round(6))
    counts = {min(FINALS, key=lambda f: abs(f - d)): c for d, c in counts.items()}
    assert set(counts) == set(FINALS)
    for final, p in zip(FINALS, PROBS):
        # 5 standard deviations of a binomial proportion: fails only if the distribution is wrong
        assert abs(counts[final] / n - p) < 5 * np.sqrt(p * (1 - p) / n), (final, counts)


def test_draw_is_reproducible_and_differs_across_envs_actors_and_seeds():
    draws = np.stack([draw_final_epsilons(FINALS, PROBS, seed=0, actor_id=i, num_envs=8) for i in range(50)])
    again = np.stack([draw_final_epsilons(FINALS, PROBS, seed=0, actor_id=i, num_envs=8) for i in range(50)])
    np.testing.assert_array_equal(draws, again)
    assert draws.shape == (50, 8) and draws.dtype == np.float32
    assert len(np.unique(draws)) == 3 and (np.ptp(draws, axis=1) > 0).mean() > 0.9  # envs of one actor differ
    other = np.stack([draw_final_epsilons(FINALS, PROBS, seed=1, actor_id=i, num_envs=8) for i in range(50)])
    assert not np.array_equal(draws, other)


def test_the_schedule_anneals_every_env_to_its_own_final():
    finals = np.array([0.1, 0.01, 0.5], np.float32)
    np.testing.assert_allclose(epsilon_at(0, finals, 1000), 1.0)
    np.testing.assert_allclose(epsilon_at(500, finals, 1000), (1.0 + finals) / 2, rtol=1e-6)
    np.testing.assert_allclose(epsilon_at(5000, finals, 1000), finals, rtol=1e-6)


@pytest.mark.parametrize("final", FINALS)
def test_annealing_is_linear_and_ends_at_the_configured_frame(final):
    anneal = 4_000_000
    assert epsilon_at(0, final, anneal) == 1.0
    assert epsilon_at(anneal / 2, final, anneal) == pytest.approx((1.0 + final) / 2)
    assert epsilon_at(anneal - 40, final, anneal) > final
    assert epsilon_at(anneal, final, anneal) == pytest.approx(final)
    assert epsilon_at(10 * anneal, final, anneal) == pytest.approx(final)
