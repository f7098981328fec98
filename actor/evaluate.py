"""Score weights: play whole episodes with the run's model and report their unclipped returns.

Greedy by default (argmax of the policy logits or of the Q values), which is how
the value methods are judged: their actors' own returns include exploration.

Two users: `evaluate(cfg, path)` for saved weights, and `eval_entry`, the evaluation
actor the learner spawns when `learner.eval_interval` is set: it waits for a request
on its pipe, takes the newest weights from the weight board, plays
`learner.eval_episodes` greedy episodes and sends the returns back.
"""

from __future__ import annotations

import os
import signal

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

from actor.policy import Policy
from common.config import Config, frames_per_update, from_dict
from common.env import make_env
from common.model import build_model
from common.weights import load_weights


def first_episode_returns(env, policy, max_steps: int = 1_000_000, tick=lambda: None) -> list[float]:
    """Play every env of `env` with `policy` (an `actor.policy.Policy` for as many envs) to the end of its
    first game; its unclipped return, in env order. An env still playing after `max_steps` agent steps is
    left out. `tick()` is called every agent step (the evaluation actor's heartbeat)."""
    n = env.num_envs
    returns = np.full(n, np.nan)
    obs = env.reset()  # [n, *obs_shape]
    policy.reset()
    for _ in range(max_steps):
        tick()
        actions, _outputs = policy.act(obs)
        step = env.step(actions)
        first_end = np.isnan(returns) & ~np.isnan(step.episode_return)
        returns[first_end] = step.episode_return[first_end]
        if not np.isnan(returns).any():
            break
        obs = step.obs
        policy.end_episodes(step.done)
    return returns[~np.isnan(returns)].tolist()


def evaluate(
    cfg: Config,
    weights_path: str,
    episodes: int = 20,
    seed: int = 12345,
    greedy: bool = True,
    max_steps: int = 1_000_000,
) -> list[float]:
    """Unclipped returns of the first `episodes` games of `episodes` envs run side by side."""
    env = make_env(cfg.env, episodes, seed=seed)
    try:
        model = build_model(env.spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
        load_weights(model, weights_path, cfg.env.id)
        policy = Policy(model, cfg.algorithm, episodes, seed, greedy=greedy)
        return first_episode_returns(env, policy, max_steps)
    finally:
        env.close()


def run_eval_actor(cfg_dict: dict, weights, conn, stop_flag, heartbeat, seed: int, parent_pid: int) -> None:
    """Serve evaluation requests from the learner until it stops or goes away.

    weights: a `WeightSource` (the weight board). conn: a duplex pipe; receives a frame
    count (the learner's, when it asked), answers (frames of the weights evaluated, returns list).
    heartbeat: a `common.process.Heartbeat`, beaten while waiting and every agent step.
    """
    from common.process import parent_alive

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the learner decides
    cfg = from_dict(cfg_dict)
    env = make_env(cfg.env, cfg.learner.eval_episodes, seed=seed)
    try:
        model = build_model(env.spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
        policy = Policy(model, cfg.algorithm, cfg.learner.eval_episodes, seed, greedy=True)
        update_frames = frames_per_update(cfg, env.spec.frames_per_step)
        while not stop_flag.is_set() and parent_alive(parent_pid):
            heartbeat.beat()
            if not conn.poll(0.5):
                continue
            conn.recv()
            newest = weights.fetch(-1)  # the newest weights, whatever their version
            if newest is None:
                continue
            policy.load(*newest)
            returns = first_episode_returns(env, policy, tick=heartbeat.beat)
            conn.send((policy.version * update_frames, returns))
    finally:
        env.close()


def eval_entry(*args) -> None:
    """Spawn target (`learner.evaluator`): a crash prints one traceback and exits 1."""
    from common.process import guarded_entry

    guarded_entry("eval actor", run_eval_actor, *args, quiet=(KeyboardInterrupt, BrokenPipeError, EOFError))
