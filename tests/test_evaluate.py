"""`actor.evaluate.first_episode_returns`: every evaluation reports whole games of its own."""

import numpy as np

from actor.evaluate import first_episode_returns
from common.config import EnvConfig
from common.env import make_env

CFG = EnvConfig(id="CartPole-v1")


class LeanWithThePole:
    """A deterministic `actor.policy.Policy` stand-in with games of uneven length: push the way the pole leans."""

    def act(self, obs):
        return (obs[:, 2] > 0).astype(np.int32), None

    def end_episodes(self, done):
        pass

    def reset(self):
        pass


def alone(seed: int) -> float:
    env = make_env(CFG, 1, seed=seed)
    try:
        return first_episode_returns(env, LeanWithThePole())[0]
    finally:
        env.close()


def test_two_evaluations_on_one_env_report_the_games_played_alone():
    env = make_env(CFG, 4, seed=10)  # gymnasium seeds env i with 10 + i
    try:
        first = first_episode_returns(env, LeanWithThePole())
        second = first_episode_returns(env, LeanWithThePole())
    finally:
        env.close()
    expected = [alone(10 + i) for i in range(4)]
    assert len(set(expected)) > 1  # uneven games: the early finishers run on while the others end
    assert first == expected
    assert second == expected
