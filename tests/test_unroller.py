"""actor.loop.Unroller: what an unroll records is what the env played (A3C: what the policy chose)."""

import numpy as np

from actor.loop import Unroller
from common.config import from_dict
from common.env import SERVE_STEPS, make_env
from common.transport.schema import unroll_fields


class _NoopPolicy:
    """Always NOOP (action 0); the interface Unroller uses."""

    core = ()
    epsilon = 0.0

    def __init__(self, num_envs: int, num_actions: int):
        self.shape = (num_envs, num_actions)

    def act(self, obs):
        return np.zeros(self.shape[0], np.int32), np.zeros(self.shape, np.float32)

    def value(self, obs):
        return np.zeros(self.shape[0], np.float32)

    def end_episodes(self, done):
        pass


def test_unrolls_record_the_fire_the_env_played_after_a_lost_life_and_sarsa_bootstraps_on_it():
    env_cfg = {"id": "ALE/Breakout-v5", "sticky_actions": 0.0, "noop_max": 0, "episodic_life": True}
    cfg = from_dict(
        {"algorithm": "sarsa_1step", "env": {**env_cfg, "fire_after_life_loss": True, "num_envs": 1}, "actor": {}}
    )
    env = make_env(cfg.env, 1, seed=0)
    T, A = cfg.actor.unroll_length, env.spec.num_actions
    fields = unroll_fields(env.spec.obs_shape, env.spec.obs_dtype, A, T, 1, cfg.algorithm)
    unroller = Unroller(cfg, env, _NoopPolicy(1, A))
    actions, dones, bootstraps = [], [], []
    for _ in range(300):  # 1,500 agent steps: the NOOP policy loses its 5 balls well within them
        slot = {name: np.zeros(shape, dtype) for name, (shape, dtype) in fields.items()}
        unroller.write(slot)
        actions.append(slot["actions"][:, 0])
        dones.append(slot["dones"][:, 0])
        bootstraps.append(int(slot["bootstrap_action"][0]))
    env.close()
    actions, dones = np.concatenate(actions), np.concatenate(dones)
    after_done = np.flatnonzero(dones[:-1]) + 1
    assert len(after_done) >= 5  # four lost lives and a game over at least
    fired = np.flatnonzero(actions == 1)  # FIRE; the policy itself only plays NOOP
    serving = {t + k for t in after_done for k in range(SERVE_STEPS)}  # the steps the env serves on
    assert len(fired) >= 4 * SERVE_STEPS and set(fired) <= serving
    for u, b in enumerate(bootstraps[:-1]):  # Sarsa's a_T is the action the next unroll plays first
        assert b == actions[(u + 1) * T]


def test_a3c_unrolls_record_the_policys_own_action_where_the_env_served_a_new_ball():
    """A forced FIRE is not the policy's choice: as its action, with log pi(FIRE) driven to -6,500, it dominated
    the policy-gradient loss (Breakout run I, benchmarks/RESULTS.md); the action it sampled there is recorded."""
    env_cfg = {"id": "ALE/Breakout-v5", "sticky_actions": 0.0, "noop_max": 0, "episodic_life": True}
    cfg = from_dict({"algorithm": "a3c", "env": {**env_cfg, "fire_after_life_loss": True, "num_envs": 1}})
    env = make_env(cfg.env, 1, seed=0)
    T, A = cfg.actor.unroll_length, env.spec.num_actions
    fields = unroll_fields(env.spec.obs_shape, env.spec.obs_dtype, A, T, 1, cfg.algorithm)
    unroller = Unroller(cfg, env, _NoopPolicy(1, A))
    actions, dones = [], []
    for _ in range(300):
        slot = {name: np.zeros(shape, dtype) for name, (shape, dtype) in fields.items()}
        unroller.write(slot)
        actions.append(slot["actions"][:, 0])
        dones.append(slot["dones"][:, 0])
    env.close()
    assert np.concatenate(dones).sum() >= 5  # the env served each new ball: the NOOP policy lost all five
    assert not np.concatenate(actions).any()  # and every recorded action is the policy's NOOP
