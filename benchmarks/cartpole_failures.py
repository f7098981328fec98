"""How a CartPole policy loses its games: the pole falling, or the cart leaving the track.

    python benchmarks/cartpole_failures.py runs/cartpole_q1step
    python benchmarks/cartpole_failures.py runs/x/checkpoints/800000.weights.h5 --config runs/x/config.json

Plays `--episodes` games one at a time (game i starts from `env.reset(seed=SEED + i)`), greedily
unless `--sample`, and prints each game's length and why it ended, read from its last observation
[x, x_dot, theta, theta_dot]: `cart` (|x| > 2.4), `pole` (|theta| > 0.2095 rad) or `limit` (500
steps). Then the count of each cause.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from actor.policy import Policy
from common.env import make_env
from common.weights import load_model_file, resolve_target

X_LIMIT, THETA_LIMIT = 2.4, 0.2095  # CartPole-v1's termination bounds


def cause_of_end(last_obs: np.ndarray, length: int, max_steps: int) -> str:
    """`cart`, `pole` or `limit` from the observation a game ended on."""
    if abs(last_obs[0]) > X_LIMIT:
        return "cart"
    if abs(last_obs[2]) > THETA_LIMIT:
        return "pole"
    return "limit" if length >= max_steps else "other"


def play_one(env, policy, seed: int) -> tuple[int, str, float]:
    """One game from `env.reset(seed=seed)`: (length, cause, largest |x| seen)."""
    obs, _ = env.reset(seed=seed)
    max_steps = env.spec.max_episode_steps
    widest = 0.0
    for t in range(1, max_steps + 1):
        action, _ = policy.act(obs[None].astype(np.float32))  # obs [4] -> batch of one
        obs, _, terminated, truncated, _ = env.step(int(action[0]))
        widest = max(widest, abs(float(obs[0])))
        if terminated or truncated:
            return t, cause_of_end(obs, t, max_steps), widest
    return max_steps, "limit", widest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="a run folder (its checkpoints/latest.weights.h5) or a .weights.h5")
    parser.add_argument("--config", help="config.json or YAML (default: the run folder's config.json)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--sample", action="store_true", help="sample from the policy instead of its argmax")
    args = parser.parse_args(argv)

    cfg, weights = resolve_target(args.target, args.config, None, {})
    if not cfg.env.id.startswith("CartPole") or cfg.env.obs_wrapper not in (None, "none"):
        parser.error(f"{cfg.env.id} with obs_wrapper {cfg.env.obs_wrapper!r}: this reads CartPole's full observation")

    import gymnasium as gym

    spec_env = make_env(cfg.env, 1, seed=args.seed)
    model = load_model_file(cfg, spec_env.spec, weights, args.seed)
    spec_env.close()
    policy = Policy(model, cfg.algorithm, 1, args.seed, greedy=not args.sample)
    env = gym.make(cfg.env.id)
    causes = collections.Counter()
    lengths = []
    for i in range(args.episodes):
        length, cause, widest = play_one(env, policy, args.seed + i)
        causes[cause] += 1
        lengths.append(length)
        print(f"game {i:2d}: {length:3d} steps, ended by {cause:5s} (largest |x| {widest:.2f})")
    print(
        f"mean length {np.mean(lengths):.1f} over {args.episodes} games; ended by: "
        + ", ".join(f"{k} {v}" for k, v in sorted(causes.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
