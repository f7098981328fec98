"""benchmarks/served_fire.py: the log-probabilities it reports are those of the actions the env played."""

import os
import sys
from types import SimpleNamespace

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import served_fire  # noqa: E402


def test_log_softmax_matches_numpy_and_stays_finite_for_huge_logits():
    logits = np.array([[0.5, -1.0, 2.0], [3000.0, -4000.0, 0.0]])
    small = np.log(np.exp(logits[0]) / np.exp(logits[0]).sum())
    out = served_fire.log_softmax(logits)
    np.testing.assert_allclose(out[0], small, rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, -7000.0, -3000.0])


class _ServingEnv:
    """Two envs, both served FIRE (action 1) on every third step, whatever was chosen."""

    def __init__(self):
        self.t = 0

    def reset(self):
        return np.zeros((2, 1), np.float32)

    def actions_to_play(self, actions):
        return np.full_like(actions, 1) if (self.t + 1) % 3 == 0 else actions

    def step(self, actions):
        played = self.actions_to_play(actions)
        self.t += 1
        return SimpleNamespace(actions=played, done=np.zeros(2, bool), obs=np.zeros((2, 1), np.float32))


class _Policy:
    """The first env's policy chooses NOOP and rates FIRE 50 nats below it; the second's chooses FIRE itself."""

    def act(self, obs):
        return np.array([0, 1], np.int32), np.array([[0.0, -50.0], [-50.0, 0.0]], np.float32)

    def end_episodes(self, done):
        pass


def test_served_steps_are_split_from_the_policys_own_even_where_it_chose_fire_itself():
    served, own = served_fire.played_log_probs(_ServingEnv(), _Policy(), steps=9)
    assert len(served) == 6 and len(own) == 12  # 3 serving steps x 2 envs
    np.testing.assert_allclose(np.sort(served), [-50.0] * 3 + [0.0] * 3, atol=1e-4)
    np.testing.assert_allclose(own, 0.0, atol=1e-6)
    assert "share below -10: 0.50" in served_fire.summary("served FIRE", served)
