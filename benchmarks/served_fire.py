"""How likely an A3C policy rates the FIRE that the env plays for it after a lost life.

    python benchmarks/served_fire.py RUN_DIR [WEIGHTS ...] [--steps 3000]

With `env.fire_after_life_loss` the env plays FIRE on the agent steps after each lost life,
whatever the policy chose. This plays the run's own env (8 envs, sampling from the policy) with
each weights file (default: the run's numbered checkpoints in frame order) and prints, for the
steps the env served and for the policy's own steps, the log-probability the policy gives the
action that was played: median, minimum and the share below -10.

A policy gradient that takes a served FIRE as the policy's choice has a loss term -A log pi(FIRE):
at hundreds of nats those few steps dominate the loss, and since the gradient -A (onehot - pi) of
an action the policy rates near 0 does not shrink with it, they keep pushing FIRE's logit while the
policy's confident own steps give almost none.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

ENVS = 8
UNLIKELY = -10.0  # nats: an action the policy plays about once in 22,000 steps


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """[..., A] -> [..., A], stable for logits of thousands."""
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def played_log_probs(env, policy, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Play `steps` agent steps -> (log pi of each served action [n], of each of the policy's own [m])."""
    obs = env.reset()
    served, own = [], []
    for _ in range(steps):
        chosen, logits = policy.act(obs)  # [E], [E, A]
        serving = env.actions_to_play(np.full(len(chosen), -1, np.int32)) >= 0  # [E]: the env plays FIRE now
        step = env.step(chosen)
        log_pi = log_softmax(logits)[np.arange(len(chosen)), step.actions]  # [E]
        served.append(log_pi[serving])
        own.append(log_pi[~serving])
        policy.end_episodes(step.done)
        obs = step.obs
    return np.concatenate(served), np.concatenate(own)


def summary(label: str, log_pi: np.ndarray) -> str:
    if len(log_pi) == 0:
        return f"{label}: none"
    return (
        f"{label}: {len(log_pi)} steps, log pi median {np.median(log_pi):.2f}, min {log_pi.min():.1f}, "
        f"share below {UNLIKELY:g}: {(log_pi < UNLIKELY).mean():.2f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder (its config.json and checkpoints/)")
    p.add_argument("weights", nargs="*", help="weights files (default: every numbered checkpoint of the run)")
    p.add_argument("--steps", type=int, default=3000, help="agent steps per weights file (each over 8 envs)")
    args = p.parse_args()

    from actor.policy import Policy
    from common import config as config_lib
    from common.env import make_env, probe_spec
    from common.model import build_model
    from common.weights import load_weights
    from learner.checkpoint import checkpoint_weights

    cfg = config_lib.load(os.path.join(args.run, "config.json"))  # with what later legs changed
    if cfg.algorithm != "a3c" or not cfg.env.fire_after_life_loss:
        p.error("the run must be a3c with env.fire_after_life_loss: true")
    folder = os.path.join(args.run, "checkpoints")
    files = args.weights or checkpoint_weights(folder)
    if not files:
        p.error(f"no numbered checkpoints in {folder}; name weights files instead")
    model = build_model(probe_spec(cfg.env), cfg.model, cfg.seed, cfg.algorithm)
    for f in files:
        load_weights(model, f, cfg.env.id)
        env = make_env(cfg.env, ENVS, seed=5)
        try:
            served, own = played_log_probs(env, Policy(model, "a3c", ENVS, seed=1), args.steps)
        finally:
            env.close()
        print(os.path.basename(f), flush=True)
        print("  " + summary("served FIRE", served))
        print("  " + summary("policy's own", own), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
