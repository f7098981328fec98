"""Score saved weights: play whole episodes with the run's model and report their returns.

Greedy by default (argmax of the policy logits or of the Q values), which is how
the value methods are judged: their actors' own returns include exploration.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

from common.config import Config  # noqa: E402
from common.env import make_env  # noqa: E402
from common.model import build_model, initial_core, reset_core  # noqa: E402


def evaluate(cfg: Config, weights_path: str, episodes: int = 20, seed: int = 12345, greedy: bool = True,
             max_steps: int = 1_000_000) -> list[float]:
    """Unclipped returns of the first `episodes` games of `episodes` envs run side by side."""
    import jax

    from actor.loop import make_policy_step

    env = make_env(cfg.env, episodes, seed=seed)
    try:
        model = build_model(env.spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
        model.load_weights(weights_path)
        policy_step = make_policy_step(model, cfg.algorithm, greedy=greedy)
        params = [v.value for v in model.trainable_variables + model.non_trainable_variables]
        key = jax.random.key(seed)
        returns = np.full(episodes, np.nan)
        obs = env.reset()  # [episodes, *obs_shape]
        core = initial_core(model, episodes)
        for _ in range(max_steps):
            actions, _outputs, key, core = policy_step(params, obs, key, 0.0, core)
            step = env.step(np.asarray(actions))
            first_end = np.isnan(returns) & ~np.isnan(step.episode_return)
            returns[first_end] = step.episode_return[first_end]
            if not np.isnan(returns).any():
                break
            obs = step.obs
            core = reset_core(core, step.done)
        return returns[~np.isnan(returns)].tolist()
    finally:
        env.close()
