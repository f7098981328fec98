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
    """Two envs; the first is served FIRE (action 1) on every third step, whatever was chosen."""

    def __init__(self):
        self.t = 0

    def reset(self):
        return np.zeros((2, 1), np.float32)

    def step(self, actions):
        self.t += 1
        played = actions.copy()
        if self.t % 3 == 0:
            played[0] = 1
        return SimpleNamespace(actions=played, done=np.zeros(2, bool), obs=np.zeros((2, 1), np.float32))


class _NoopPolicy:
    """Chooses action 0 and rates action 1 at -50 nats below it."""

    def act(self, obs):
        return np.zeros(2, np.int32), np.tile(np.array([0.0, -50.0], np.float32), (2, 1))

    def end_episodes(self, done):
        pass


def test_served_steps_are_split_from_the_policys_own():
    served, own = served_fire.played_log_probs(_ServingEnv(), _NoopPolicy(), steps=9)
    assert len(served) == 3 and len(own) == 15
    np.testing.assert_allclose(served, -50.0, atol=1e-4)
    np.testing.assert_allclose(own, 0.0, atol=1e-6)
    assert "share below -10: 1.00" in served_fire.summary("served FIRE", served)
