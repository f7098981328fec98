"""Environment factory: one vectorised env per actor, the same interface for Atari and the rest.

`ALE/<Game>-v5` ids run on ale-py's `AtariVectorEnv` (C++ frame skip, max-pool,
84x84 gray, frame stack, no-op starts, sticky actions). Any other gymnasium id
runs through gymnasium's synchronous vector env; pixel observations are turned
gray, resized and stacked here with scikit-image.

Observations of pixel envs are `[stack, H, W] uint8` (ALE's native layout); the
model rescales them. Vector observations stay float32.

`with_frames=True` (watching and recording, see `actor.play`) adds `frames()`: the
emulator's colour screens, from a second AtariVectorEnv with the same emulator
settings and seed stepped in lockstep (so the same game), or from gymnasium's
`rgb_array` rendering for other ids; the observations stay exactly the training ones.

Step contract (autoreset in the same step): after `step`, `obs` is already the
first observation of the next episode wherever `done` is set, so an unroll's
`obs[t+1]` never belongs to the episode that ended at `t` and the learner cuts
the bootstrap there. A game cut by a time limit (`truncated`) did not end by its
rules, so its last state still has a future: `final_obs` holds that state, and
the actor folds its discounted value into the reward (see `actor.loop`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from common.config import ConfigError, EnvConfig


@dataclass(frozen=True)
class EnvSpec:
    obs_shape: tuple[int, ...]  # one env's observation
    obs_dtype: str  # "uint8" for pixels, "float32" for vectors
    num_actions: int
    frames_per_step: int  # emulator frames per agent step
    max_episode_steps: int | None = None  # the env's own limit on a game's agent steps, if it has one

    @property
    def is_pixels(self) -> bool:
        return self.obs_dtype == "uint8"


@dataclass
class Step:
    obs: np.ndarray  # [E, *obs_shape]
    reward: np.ndarray  # [E] float32, clipped if configured
    done: np.ndarray  # [E] bool: episode over *for learning* (includes life loss if episodic_life)
    episode_return: np.ndarray  # [E] float32, unclipped return of a game that ended now, else NaN
    episode_length: np.ndarray  # [E] int32, agent steps of a game that ended now, else 0
    truncated: np.ndarray  # [E] bool: the game was cut by a time limit now, not ended by its rules
    final_obs: np.ndarray | None  # [E, *obs_shape]: where truncated, the cut game's last observation; None if none
    actions: np.ndarray  # [E] int32: the actions played, the agent's except where the env forced one


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/")


ALE_ENTRY_POINT = "ale_py.env:AtariEnv"


def legacy_atari_hint(env_id: str, registry: dict) -> str:
    """What to write instead of a legacy ale-py id, with the settings that id stood for."""
    kwargs = registry[env_id].kwargs
    game = kwargs["game"]
    same_game = [k for k, s in registry.items() if is_atari(k) and k.endswith("-v5") and s.kwargs.get("game") == game]
    v5 = min(same_game, key=len) if same_game else "ALE/<Game>-v5"
    skip, sticky = kwargs.get("frameskip"), kwargs.get("repeat_action_probability", 0.0)
    skip_text = "a random frame skip of 2-4" if isinstance(skip, tuple) else f"frame skip {skip}"
    return (
        f"{env_id!r} is a legacy ale-py id ({skip_text}, sticky actions {sticky:g}, no no-op starts) that this "
        f"project does not run; use env.id={v5} (frame skip 4, max-pool, up to env.noop_max no-ops)"
        + (" with env.sticky_actions=0 for its no-sticky setting" if sticky == 0 else "")
    )


def _registry() -> dict:
    import ale_py

    gym.register_envs(ale_py)
    return gym.registry


def check_env_id(env_id: str) -> None:
    """Raise ConfigError (one line) if `env_id` is not a known gymnasium/ALE id, or is one of ale-py's
    legacy Atari ids (`Pong-v4`, `PongNoFrameskip-v4`, ...), whose frame skip and sticky actions are
    baked into the id: Atari runs through `ALE/<Game>-v5`, where `env.*` sets them."""
    registry = _registry()
    if env_id in registry and (is_atari(env_id) or registry[env_id].entry_point != ALE_ENTRY_POINT):
        return
    if env_id in registry:
        raise ConfigError(f"env.id: {legacy_atari_hint(env_id, registry)}")
    close = difflib.get_close_matches(env_id, list(registry), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; Atari games are named like ALE/Pong-v5"
    raise ConfigError(f"env.id: unknown environment {env_id!r}{hint}")


class VecEnv:
    """E environments stepped together. Subclasses fill `_reset`, `step` (and `frames` when made with frames)."""

    spec: EnvSpec
    num_envs: int
    frame_rate: float  # agent steps per second of game time (for videos and windows)
    _env: Any  # the wrapped vector env
    _seed: int

    def __init__(self, cfg: EnvConfig, num_envs: int):
        self.cfg = cfg
        self.num_envs = num_envs
        self._returns = np.zeros(num_envs, np.float64)
        self._lengths = np.zeros(num_envs, np.int32)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new game in every env; seed None re-seeds with the env's own seed (the same games again).

        Games cut short by this reset are dropped from the accounting: the next returns count from 0.
        """
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self._reset(self._seed if seed is None else seed)

    def _reset(self, seed: int) -> np.ndarray:
        raise NotImplementedError

    def step(self, actions: np.ndarray) -> Step:
        raise NotImplementedError

    def actions_to_play(self, actions: np.ndarray) -> np.ndarray:
        """[E] int32: the actions the next `step(actions)` plays (the same here; see AtariEnv)."""
        return np.asarray(actions, np.int32)

    def frames(self) -> np.ndarray:
        """[E, H, W, 3] uint8 colour screens (envs made with frames)."""
        raise NotImplementedError

    def _account(
        self,
        reward: np.ndarray,
        game_over: np.ndarray,
        life_lost: np.ndarray,
        obs,
        truncated: np.ndarray,
        final_obs: np.ndarray | None,
        actions: np.ndarray,
    ) -> Step:
        self._returns += reward
        self._lengths += 1
        ep_ret = np.where(game_over, self._returns, np.nan).astype(np.float32)
        ep_len = np.where(game_over, self._lengths, 0).astype(np.int32)
        self._returns[game_over] = 0.0
        self._lengths[game_over] = 0
        if self.cfg.clip_rewards:
            reward = np.clip(reward, -1.0, 1.0)
        done = game_over | life_lost
        return Step(obs, reward.astype(np.float32), done, ep_ret, ep_len, truncated, final_obs, actions)

    def close(self) -> None:
        self._env.close()


ATARI_HZ = 60.0  # emulator frames per second of an NTSC Atari 2600 game
ATARI_SCREEN = (210, 160)  # the emulator's screen, height x width


def _ale_game(env_id: str) -> str:
    """'ALE/Breakout-v5' -> ale-py's ROM name, 'breakout'."""
    return _registry()[env_id].kwargs["game"]


def _atari_vector_env(cfg: EnvConfig, num_envs: int, num_threads: int, colour: bool = False):
    """ale-py's AtariVectorEnv for `cfg`: the agent's gray 84x84 stack, or (colour=True) full-size
    colour screens from otherwise identical emulators, which play the same game for the same seed and actions."""
    from ale_py.vector_env import AtariVectorEnv

    game = _ale_game(cfg.id)
    height, width = ATARI_SCREEN if colour else (cfg.screen_size, cfg.screen_size)
    return AtariVectorEnv(
        game,
        num_envs,
        num_threads=num_threads,
        frameskip=cfg.frame_skip,
        stack_num=1 if colour else cfg.frame_stack,
        img_height=height,
        img_width=width,
        grayscale=not colour,
        maxpool=not colour,  # a video shows the screen as it was, not the max of the last two
        noop_max=cfg.noop_max,
        repeat_action_probability=cfg.sticky_actions,
        full_action_space=cfg.full_action_space,
        max_num_frames_per_episode=cfg.max_episode_frames,
        reward_clipping=False,  # clipped in _account so reported returns stay raw
        episodic_life=False,  # life loss is a learning boundary only, see _account
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


# Agent steps of FIRE after a lost life. Sticky actions (0.25 per frame) can keep the previous action
# over one step's FIRE; a ball left unserved stalls the game until the time limit,
# and a long run meets that in every env (Breakout run F: after 11.04M frames none of its 16 games ended).
# In 16 envs x 1,500 NOOP steps, one step left 3 balls unserved, three none; FIRE in play does nothing in Breakout.
SERVE_STEPS = 3


def _fire_action(cfg: EnvConfig) -> int:
    """FIRE's index in the game's action set (`env.fire_after_life_loss`); ConfigError if it has none."""
    from ale_py import Action, ALEInterface, LoggerMode, roms

    ALEInterface.setLoggerMode(LoggerMode.Error)
    ale = ALEInterface()
    rom = roms.get_rom_path(_ale_game(cfg.id))
    if rom is None:
        raise ConfigError(f"env.fire_after_life_loss: ale-py has no ROM for {cfg.id}")
    ale.loadROM(rom)
    action_set = list(ale.getLegalActionSet() if cfg.full_action_space else ale.getMinimalActionSet())
    if Action.FIRE not in action_set:
        raise ConfigError(f"env.fire_after_life_loss: {cfg.id} has no FIRE action")
    return action_set.index(Action.FIRE)


class AtariEnv(VecEnv):
    def __init__(self, cfg: EnvConfig, num_envs: int, seed: int, num_threads: int = 1, with_frames: bool = False):
        super().__init__(cfg, num_envs)
        self._fire = _fire_action(cfg) if cfg.fire_after_life_loss else None  # FIRE's index; checked before any env
        self._env = _atari_vector_env(cfg, num_envs, num_threads)
        self._colour = _atari_vector_env(cfg, num_envs, num_threads, colour=True) if with_frames else None
        self._frames = None  # [E, 210, 160, 3] uint8, the screens after the last reset or step
        self._seed = seed
        self._lives = np.zeros(num_envs, np.int32)
        self._serve = np.zeros(num_envs, np.int32)  # [E] agent steps of FIRE still to play for a new ball
        self.frame_rate = ATARI_HZ / cfg.frame_skip
        self.spec = EnvSpec(
            obs_shape=tuple(self._env.single_observation_space.shape),
            obs_dtype="uint8",
            num_actions=int(self._env.single_action_space.n),
            frames_per_step=cfg.frame_skip,
            max_episode_steps=-(-cfg.max_episode_frames // cfg.frame_skip),
        )

    def _reset(self, seed: int) -> np.ndarray:
        obs, info = self._env.reset(seed=seed)
        self._lives = np.asarray(info["lives"], np.int32)
        self._serve[:] = 0
        if self._colour is not None:
            self._frames = self._colour.reset(seed=seed)[0][:, 0]
        return obs  # [E, stack, 84, 84] uint8

    def actions_to_play(self, actions: np.ndarray) -> np.ndarray:
        """[E] int32: FIRE in the SERVE_STEPS steps after a lost life (`env.fire_after_life_loss`), else `actions`."""
        actions = actions.astype(np.int32, copy=False)
        if self._fire is None or not self._serve.any():
            return actions
        return np.where(self._serve > 0, self._fire, actions).astype(np.int32)

    def frames(self) -> np.ndarray:
        """[E, 210, 160, 3] uint8 colour screens; a game that ended in the last step shows its last screen."""
        if self._frames is None:
            raise RuntimeError("frames(): this env was made without with_frames=True, or not reset yet")
        return self._frames

    def step(self, actions: np.ndarray) -> Step:
        actions = self.actions_to_play(actions)
        obs, reward, term, trunc, info = self._env.step(actions)
        game_over = term | trunc
        truncated = np.asarray(trunc & ~term)
        final_obs = np.asarray(info["final_obs"]) if truncated.any() else None  # [E, stack, 84, 84]
        if self._colour is not None:
            self._step_colour(actions, reward, game_over)
        lives = np.asarray(info["lives"], np.int32)
        any_life_lost = (lives < self._lives) & ~game_over
        self._lives = lives
        self._serve = np.where(any_life_lost, SERVE_STEPS, np.maximum(self._serve - 1, 0))  # ale-py serves new games
        life_lost = any_life_lost if self.cfg.episodic_life else np.zeros_like(game_over)
        return self._account(np.asarray(reward, np.float64), game_over, life_lost, obs, truncated, final_obs, actions)

    def _step_colour(self, actions, reward, game_over) -> None:
        assert self._colour is not None
        frames, c_reward, c_term, c_trunc, c_info = self._colour.step(actions)
        if not (np.array_equal(c_reward, reward) and np.array_equal(c_term | c_trunc, game_over)):
            raise RuntimeError("the colour emulator fell out of step with the agent's emulator")  # never seen
        frames = frames[:, 0]  # [E, 210, 160, 3]
        if game_over.any():  # same-step autoreset: show the game's last screen, not the next game's first
            frames = np.where(game_over[:, None, None, None], c_info["final_obs"][:, 0], frames)
        self._frames = frames

    def close(self) -> None:
        self._env.close()
        if self._colour is not None:
            self._colour.close()


# `env.obs_wrapper: mask_velocity`, per env family: the components kept and the limits they are
# divided by. CartPole: [cart position, cart velocity, pole angle, pole angular velocity] -> the
# position and the angle over the limits that end an episode (2.4 m, 12 degrees), so both span
# [-1, 1]. Unscaled, the angle stays within +-0.05 for most of an episode; an LSTM on such small
# inputs did not learn at all in 3M frames (the policy stayed uniform), scaled it does.
VELOCITY_FREE = {"CartPole": ((0, 2), (2.4, 0.2095))}


def _velocity_free(cfg: EnvConfig, space) -> tuple[list[int], np.ndarray] | None:
    """(kept component indices, divisors [D']) or None when the observation is left as it is."""
    if cfg.obs_wrapper == "none":
        return None
    family = cfg.id.split("-")[0]
    if family not in VELOCITY_FREE or len(space.shape) != 1:
        raise ConfigError(f"env.obs_wrapper: mask_velocity knows {', '.join(VELOCITY_FREE)} only, not {cfg.id!r}")
    keep, limits = VELOCITY_FREE[family]
    return list(keep), np.asarray(limits, np.float32)


class GymEnv(VecEnv):
    """Any gymnasium id with a discrete action space; pixel observations are preprocessed here."""

    def __init__(self, cfg: EnvConfig, num_envs: int, seed: int, with_frames: bool = False):
        super().__init__(cfg, num_envs)
        render: dict[str, Any] = {"render_mode": "rgb_array"} if with_frames else {}  # not every env takes None
        self._env = gym.make_vec(
            cfg.id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            **render,
        )
        self.frame_rate = float(self._env.metadata.get("render_fps") or 30)
        self._seed = seed
        space = self._env.single_observation_space
        act = self._env.single_action_space
        if not isinstance(act, gym.spaces.Discrete):
            self._env.close()
            raise ConfigError(
                f"env.id: {cfg.id!r} has a {type(act).__name__} action space; only discrete actions are supported"
            )
        if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (1, 3):
            self._env.close()
            raise ConfigError(f"env.id: {cfg.id!r} observations {space} are neither a vector nor an image")
        self._pixels = len(space.shape) == 3
        try:
            self._mask = _velocity_free(cfg, space)
        except ConfigError:
            self._env.close()
            raise
        obs_shape: tuple[int, ...]
        if self._pixels:
            self._stack = np.zeros((num_envs, cfg.frame_stack, cfg.screen_size, cfg.screen_size), np.uint8)
            obs_shape, dtype = tuple(self._stack.shape[1:]), "uint8"
        else:
            obs_shape, dtype = (len(self._mask[0]),) if self._mask else tuple(space.shape), "float32"
        limit = getattr(gym.spec(cfg.id), "max_episode_steps", None) if cfg.id in gym.registry else None
        self.spec = EnvSpec(
            obs_shape=obs_shape, obs_dtype=dtype, num_actions=int(act.n), frames_per_step=1, max_episode_steps=limit
        )

    def _frames(self, raw: np.ndarray) -> np.ndarray:
        """[E, H, W, C] any dtype -> [E, size, size] uint8 gray."""
        from skimage.color import rgb2gray
        from skimage.transform import resize

        raw = np.asarray(raw)
        gray = rgb2gray(raw[..., :3]) if raw.shape[-1] >= 3 else raw[..., 0].astype(np.float64) / 255.0
        size = self.cfg.screen_size
        small = resize(gray, (raw.shape[0], size, size), anti_aliasing=True, preserve_range=True)
        return np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def _vector(self, obs) -> np.ndarray:
        """[E, D] -> [E, D'] float32: the kept components, scaled, if masked."""
        obs = np.asarray(obs, np.float32)
        if self._mask is None:
            return obs
        keep, limits = self._mask
        return obs[:, keep] / limits

    def frames(self) -> np.ndarray:
        """[E, H, W, 3] uint8 from gymnasium's rgb_array rendering.

        A game that just ended shows the next one's start.
        """
        return np.stack(self._env.render())  # type: ignore[arg-type]  # rgb_array mode: a tuple of arrays

    def _reset(self, seed: int) -> np.ndarray:
        obs, _ = self._env.reset(seed=seed)
        if not self._pixels:
            return self._vector(obs)
        self._stack[:] = self._frames(obs)[:, None]
        return self._stack.copy()

    def step(self, actions: np.ndarray) -> Step:
        obs, reward, term, trunc, info = self._env.step(actions.astype(np.int64, copy=False))
        game_over = np.asarray(term | trunc)
        truncated = np.asarray(trunc & ~term)
        final_obs = None
        if self._pixels:
            frames = self._frames(obs)
            self._stack[:, :-1] = self._stack[:, 1:]
            self._stack[:, -1] = frames
            if truncated.any():
                final_obs = self._stack.copy()
                final_obs[truncated, -1] = self._frames(np.stack(info["final_obs"][truncated]))
            self._stack[game_over] = frames[game_over][
                :, None
            ]  # a new episode starts from a full stack of its first frame
            obs = self._stack.copy()
        else:
            obs = self._vector(obs)
            if truncated.any():
                final_obs = obs.copy()
                final_obs[truncated] = self._vector(np.stack(info["final_obs"][truncated]))
        no_life_lost = np.zeros_like(game_over)
        return self._account(
            np.asarray(reward, np.float64),
            game_over,
            no_life_lost,
            obs,
            truncated,
            final_obs,
            self.actions_to_play(actions),
        )


def make_env(cfg: EnvConfig, num_envs: int, seed: int, with_frames: bool = False) -> VecEnv:
    """Build the vectorised env for `cfg.id`; raises ConfigError for ids that do not exist.

    with_frames: also provide `frames()`, the colour screens (watching and recording).
    """
    check_env_id(cfg.id)
    if is_atari(cfg.id):
        if cfg.obs_wrapper != "none":
            raise ConfigError(f"env.obs_wrapper: {cfg.obs_wrapper} is for vector observations, not {cfg.id!r}")
        return AtariEnv(cfg, num_envs, seed, with_frames=with_frames)
    return GymEnv(cfg, num_envs, seed, with_frames=with_frames)


def probe_spec(cfg: EnvConfig) -> EnvSpec:
    """Observation/action facts of `cfg.id`, from a throw-away single env."""
    env = make_env(cfg, 1, seed=0)
    try:
        return env.spec
    finally:
        env.close()
