import gymnasium as gym
import numpy as np
import pytest

from common.config import ConfigError, EnvConfig, from_dict
from common.env import check_env_id, make_env, probe_spec


def test_cartpole_steps_and_reports_episode_returns():
    env = make_env(EnvConfig(id="CartPole-v1"), 3, seed=0)
    obs = env.reset()
    assert obs.shape == (3, 4) and obs.dtype == np.float32
    assert env.spec.num_actions == 2 and env.spec.frames_per_step == 1
    ended = []
    steps = np.zeros(3, int)
    for _ in range(300):
        step = env.step(np.zeros(3, np.int32))  # always push left: episodes end fast
        steps += 1
        assert step.obs.shape == (3, 4) and step.reward.dtype == np.float32
        for e in np.flatnonzero(step.done):
            assert step.episode_return[e] == steps[e] == step.episode_length[e]  # +1 per step
            ended.append(step.episode_return[e])
            steps[e] = 0
        assert np.isnan(step.episode_return[~step.done]).all()
    env.close()
    assert len(ended) >= 3


def test_unknown_env_is_one_clear_line():
    with pytest.raises(ConfigError) as info:
        check_env_id("ALE/Pongg-v5")
    assert "unknown environment 'ALE/Pongg-v5'" in str(info.value)
    assert "ALE/Pong-v5" in str(info.value)
    with pytest.raises(ConfigError):
        make_env(EnvConfig(id="NoSuchEnv-v0"), 1, seed=0)


@pytest.mark.parametrize(
    "env_id, v5, no_sticky",
    [
        ("PongNoFrameskip-v4", "ALE/Pong-v5", True),  # CleanRL's default id: frame skip 1, no sticky actions
        ("Breakout-v4", "ALE/Breakout-v5", True),
        ("SpaceInvaders-v0", "ALE/SpaceInvaders-v5", False),
        ("MontezumaRevengeNoFrameskip-v4", "ALE/MontezumaRevenge-v5", True),
    ],
)
def test_legacy_atari_ids_are_refused_with_the_v5_id(env_id, v5, no_sticky):
    """A legacy id would take the generic pixel path (no frame skip, max-pool or no-ops): refused instead."""
    with pytest.raises(ConfigError) as info:
        check_env_id(env_id)
    text = str(info.value)
    assert text.startswith(f"env.id: {env_id!r} is a legacy ale-py id") and "\n" not in text
    assert f"use env.id={v5} " in text
    assert ("env.sticky_actions=0" in text) == no_sticky


def test_atari_preprocessing_and_reward_clipping():
    cfg = EnvConfig(id="ALE/Pong-v5")
    spec = probe_spec(cfg)
    assert spec.obs_shape == (4, 84, 84) and spec.obs_dtype == "uint8"
    assert spec.num_actions == 6 and spec.frames_per_step == 4
    env = make_env(cfg, 2, seed=1)
    obs = env.reset()
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    rng = np.random.default_rng(0)
    rewards = []
    for _ in range(400):
        step = env.step(rng.integers(0, 6, size=2).astype(np.int32))
        rewards.append(step.reward)
    env.close()
    rewards = np.concatenate(rewards)
    assert rewards.min() >= -1.0 and rewards.max() <= 1.0
    assert (rewards != 0).any()  # 1,600 agent steps of Pong always score some points


def test_episodic_life_marks_life_loss_without_ending_the_game():
    env = make_env(EnvConfig(id="ALE/Breakout-v5", episodic_life=True, sticky_actions=0.0), 1, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    life_losses = 0
    for _ in range(3000):
        step = env.step(rng.integers(0, env.spec.num_actions, size=1).astype(np.int32))
        if step.done[0] and np.isnan(step.episode_return[0]):
            life_losses += 1
        if not np.isnan(step.episode_return[0]):
            break
    env.close()
    assert life_losses >= 1


def _noop_game(fire_after_life_loss: bool, steps: int = 3000) -> tuple[int, list[list[int]]]:
    """Play Breakout with NOOP only: (lives lost, the actions played on the 4 steps after each lost life)."""
    cfg = EnvConfig(
        id="ALE/Breakout-v5",
        sticky_actions=0.0,
        noop_max=0,
        episodic_life=True,
        fire_after_life_loss=fire_after_life_loss,
    )
    env = make_env(cfg, 1, seed=0)
    env.reset()
    lost, after_loss, since_loss = 0, [], None
    for _ in range(steps):
        step = env.step(np.zeros(1, np.int32))
        if since_loss is not None and since_loss < 4:
            after_loss[-1].append(int(step.actions[0]))
            since_loss += 1
        game_over = not np.isnan(step.episode_return[0])
        if step.done[0] and not game_over:  # a life lost, the game goes on
            lost, since_loss = lost + 1, 0
            after_loss.append([])
        if game_over:
            break
    env.close()
    return lost, after_loss


def test_fire_after_life_loss_serves_each_new_ball():
    lost, after_loss = _noop_game(fire_after_life_loss=True)
    assert lost == 4  # NOOP alone still ends the game: every new ball was served
    assert after_loss == [[1, 1, 1, 0]] * 4  # FIRE (index 1) on SERVE_STEPS = 3 steps, then the policy's NOOP
    stalled_lost, stalled_after = _noop_game(fire_after_life_loss=False)
    assert stalled_lost == 1 and stalled_after == [[0, 0, 0, 0]]  # nobody serves the second ball: the game stands still


def test_fire_after_life_loss_needs_an_atari_game():
    with pytest.raises(ConfigError, match="fire_after_life_loss"):
        from_dict({"env": {"id": "CartPole-v1", "fire_after_life_loss": True}})


class _PixelEnv(gym.Env):
    """Tiny RGB env: the screen brightness is the step count; ends after 5 steps."""

    observation_space = gym.spaces.Box(0, 255, (32, 40, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros((32, 40, 3), np.uint8), {}

    def step(self, action):
        self.t += 1
        return np.full((32, 40, 3), 40 * self.t, np.uint8), 1.0, self.t >= 5, False, {}


def test_pixel_env_gray_resize_and_stack():
    if "TestPixels-v0" not in gym.registry:
        gym.register("TestPixels-v0", entry_point=_PixelEnv)
    env = make_env(EnvConfig(id="TestPixels-v0", frame_stack=3, screen_size=16), 2, seed=0)
    obs = env.reset()
    assert obs.shape == (2, 3, 16, 16) and obs.dtype == np.uint8 and env.spec.is_pixels
    for _ in range(1, 5):
        obs = env.step(np.zeros(2, np.int32)).obs
    assert obs[0, -1].mean() == pytest.approx(40 * 4, abs=1)  # newest frame last
    assert obs[0, -2].mean() == pytest.approx(40 * 3, abs=1)
    step = env.step(np.zeros(2, np.int32))  # episode ends, autoreset in the same step
    assert step.done.all() and (step.episode_return == 5).all()
    assert (step.obs == 0).all()  # the new episode's stack holds only its first frame
    env.close()


def test_reset_starts_the_running_returns_from_zero():
    env = make_env(EnvConfig(id="CartPole-v1"), 2, seed=0)
    env.reset()
    for _ in range(5):
        env.step(np.ones(2, np.int32))
    env.reset()  # the 5-step games are abandoned here
    lengths = np.zeros(2, int)
    while True:
        step = env.step(np.zeros(2, np.int32))
        lengths += 1
        if step.done.any():
            break
    env.close()
    e = int(np.flatnonzero(step.done)[0])
    assert step.episode_return[e] == step.episode_length[e] == lengths[e]  # counted from the reset, not before it


def test_time_limit_is_truncation_with_the_last_observation():
    env = make_env(EnvConfig(id="CartPole-v1"), 2, seed=0)
    obs = env.reset()
    for t in range(500):  # a balancing policy: both games run into CartPole-v1's 500-step limit
        step = env.step((obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int32))
        if t < 499:
            assert not step.truncated.any() and step.final_obs is None
        obs = step.obs
    env.close()
    assert step.done.all() and step.truncated.all() and (step.episode_length == 500).all()
    assert step.final_obs.shape == step.obs.shape
    assert (np.abs(step.final_obs - step.obs) > 1e-3).any(axis=1).all()  # the cut game's state, not the next start


def test_a_game_lost_by_its_rules_is_not_truncated():
    env = make_env(EnvConfig(id="CartPole-v1"), 2, seed=0)
    env.reset()
    for _ in range(100):
        step = env.step(np.zeros(2, np.int32))
        assert not step.truncated.any()
    env.close()
