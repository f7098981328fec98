"""Score weights: play whole episodes with the run's model and report their unclipped returns.

    python -m actor.evaluate RUN_OR_WEIGHTS --episodes 30 --protocol noop --json scores.json
    asyncrl-eval RUN_OR_WEIGHTS ...

Greedy by default (argmax of the policy logits or of the Q values), which is how
the value methods are judged: their actors' own returns include exploration. The games run
side by side, env i of a vector env seeded with `--seed`; each is that env's first game.

Three users: the command above (per-episode scores and lengths, mean, std and a 95% interval,
under a named protocol, see PROTOCOLS); `evaluate(cfg, path)` for saved weights from Python; and
`eval_entry`, the evaluation actor the learner spawns when `learner.eval_interval` is set: it
waits for a request on its pipe, takes the newest weights from the weight board, plays
`learner.eval_episodes` greedy episodes and sends the returns back.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

from common import algorithms
from common.config import from_dict
from common.shell import command, command_name

if TYPE_CHECKING:
    from common.config import Config

# JAX, Keras and the envs are imported where they are used, not here: the command's Ctrl-C guard
# (`common.shell.command`) is in place only once main runs, and they take seconds to import.

# The evaluation actor yields the cores to the learner and actors once it is set up: scoring is a side
# job, and a greedy policy that never serves (Breakout) plays each game to the time limit.
EVAL_NICENESS = 10
MAX_EPISODES = 1024  # games played side by side, one emulator each (env.num_envs' bound)

# Evaluation protocols by name: config overrides on top of the run's own env settings (Atari only,
# except `training`). Every results table names the one it used.
PROTOCOLS = {
    "training": {},  # the run's own env settings (the Atari presets: up to 30 no-ops, sticky actions 0.25)
    "noop": {"env.noop_max": 30, "env.sticky_actions": 0.0},  # DQN's no-op starts (Mnih et al. 2015)
    "sticky": {"env.noop_max": 0, "env.sticky_actions": 0.25},  # sticky actions (Machado et al. 2018)
}


def first_episodes(env, policy, max_steps: int = 1_000_000, tick=lambda: None) -> list[dict]:
    """Play every env of `env` with `policy` (an `actor.policy.Policy` for as many envs) to the end of its
    first game: {"env", "score" (unclipped return), "length" (agent steps)} per env, in env order. An env
    still playing after `max_steps` agent steps is left out. `tick()` is called every agent step (the
    evaluation actor's heartbeat)."""
    n = env.num_envs
    returns, lengths = np.full(n, np.nan), np.zeros(n, np.int64)
    obs = env.reset()  # [n, *obs_shape]
    policy.reset()
    for _ in range(max_steps):
        tick()
        actions, _outputs = policy.act(obs)
        step = env.step(actions)
        first_end = np.isnan(returns) & ~np.isnan(step.episode_return)
        returns[first_end] = step.episode_return[first_end]
        lengths[first_end] = step.episode_length[first_end]
        if not np.isnan(returns).any():
            break
        obs = step.obs
        policy.end_episodes(step.done)
    ended = np.flatnonzero(~np.isnan(returns))
    return [{"env": int(i), "score": float(returns[i]), "length": int(lengths[i])} for i in ended]


def first_episode_returns(env, policy, max_steps: int = 1_000_000, tick=lambda: None) -> list[float]:
    """The scores of `first_episodes`, in env order."""
    return [e["score"] for e in first_episodes(env, policy, max_steps, tick)]


def score_summary(scores: list[float]) -> dict:
    """n, mean, sample std (ddof 1) and a two-sided 95% Student-t interval of the mean (None for n < 2)."""
    from scipy import stats  # a dependency of scikit-image

    x = np.asarray(scores, np.float64)  # [n]
    n = len(x)
    if n < 2:
        return {"n": n, "mean": float(x.mean()) if n else None, "std": None, "ci95": None}
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / np.sqrt(n)
    return {"n": n, "mean": float(x.mean()), "std": std, "ci95": [float(x.mean() - half), float(x.mean() + half)]}


def play_episodes(
    cfg: Config,
    weights_path: str,
    episodes: int,
    seed: int,
    greedy: bool = True,
    epsilon: float = 0.0,
    max_steps: int = 1_000_000,
) -> list[dict]:
    """`first_episodes` of `episodes` envs run side by side (epsilon: the value methods' sampling)."""
    from actor.policy import Policy
    from common.env import make_env
    from common.weights import load_model_file

    env = make_env(cfg.env, episodes, seed=seed)
    try:
        model = load_model_file(cfg, env.spec, weights_path, seed)
        policy = Policy(model, cfg.algorithm, episodes, seed, greedy=greedy)
        policy.epsilon = epsilon
        return first_episodes(env, policy, max_steps)
    finally:
        env.close()


def evaluate(
    cfg: Config,
    weights_path: str,
    episodes: int = 20,
    seed: int = 12345,
    greedy: bool = True,
    max_steps: int = 1_000_000,
) -> list[float]:
    """Unclipped returns of the first `episodes` games of `episodes` envs run side by side."""
    return [e["score"] for e in play_episodes(cfg, weights_path, episodes, seed, greedy, 0.0, max_steps)]


# ---------------------------------------------------------------- the command


def parse_args(argv=None):
    import argparse

    p = argparse.ArgumentParser(
        prog=command_name("actor.evaluate"),
        description="Score saved weights over N games under a named protocol: per-episode scores and lengths, "
        "mean, std and a 95%% interval, printed and optionally written as JSON.",
    )
    p.add_argument("target", help="a run folder (its checkpoints/latest.weights.h5), a .weights.h5 or a .keras file")
    p.add_argument("--episodes", type=int, default=30, help="games, played side by side (default 30)")
    p.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default="training",
        help="training: the run's own env settings (default); noop: up to 30 no-ops, no sticky actions (DQN's); "
        "sticky: sticky actions 0.25, no no-ops (Machado et al. 2018). noop and sticky are Atari only",
    )
    p.add_argument("--sample", action="store_true", help="sample from the policy (value methods: epsilon-greedy)")
    p.add_argument("--epsilon", type=float, default=0.05, help="value methods with --sample: random-action probability")
    p.add_argument("--seed", type=int, default=0, help="seed of the vector env (each env plays its first game)")
    p.add_argument("--max-steps", type=int, default=1_000_000, help="agent steps before unfinished games are dropped")
    p.add_argument("--config", help="YAML or config.json to build the model from (default: the run's config.json)")
    p.add_argument("--json", metavar="OUT", help="write the scores and settings to OUT")
    return p.parse_args(argv)


def protocol_config(args):
    """(config, weights path) under `args.protocol`; PlayError for a protocol the env has no settings for."""
    from actor.play import PlayError
    from common.env import is_atari
    from common.weights import resolve_target

    if not 1 <= args.episodes <= MAX_EPISODES:
        raise PlayError(f"--episodes: must be in [1, {MAX_EPISODES}] (one env each, side by side), got {args.episodes}")
    if args.max_steps < 1:
        raise PlayError(f"--max-steps: must be >= 1, got {args.max_steps}")
    if not 0.0 <= args.epsilon <= 1.0:
        raise PlayError(f"--epsilon: must be in [0, 1], got {args.epsilon}")
    cfg, weights = resolve_target(args.target, args.config, None, PROTOCOLS[args.protocol], env_hint="")
    if args.protocol != "training" and not is_atari(cfg.env.id):
        raise PlayError(f"--protocol {args.protocol} sets Atari no-ops and sticky actions; {cfg.env.id} has neither")
    return cfg, weights


def report(cfg, weights: str, args, games: list[dict]) -> dict:
    """What the JSON holds: the protocol's settings, every game, and the summary of their scores."""
    from common.env import is_atari

    env = cfg.env
    protocol = {"name": args.protocol, "policy": "sample" if args.sample else "greedy"}
    if args.sample and algorithms.get(cfg).uses_epsilon:
        protocol["epsilon"] = args.epsilon
    if is_atari(env.id):
        protocol.update(
            noop_max=env.noop_max,
            sticky_actions=env.sticky_actions,
            frame_skip=env.frame_skip,
            max_episode_frames=env.max_episode_frames,
            fire_after_life_loss=env.fire_after_life_loss,
        )
    return {
        "weights": weights,
        "algorithm": cfg.algorithm,
        "env": env.id,
        "protocol": protocol,
        "seed": args.seed,
        "episodes_asked": args.episodes,
        "episodes": games,
        **score_summary([g["score"] for g in games]),
    }


@command
def main(argv=None) -> int:
    import json
    import sys

    from actor.play import PlayError
    from common.config import ConfigError
    from common.weights import WeightsError

    args = parse_args(argv)
    try:
        cfg, weights = protocol_config(args)
        print(f"evaluating {weights}: {cfg.algorithm} on {cfg.env.id}, protocol {args.protocol}", flush=True)
        epsilon = args.epsilon if args.sample and algorithms.get(cfg).uses_epsilon else 0.0
        games = play_episodes(cfg, weights, args.episodes, args.seed, not args.sample, epsilon, args.max_steps)
    except (ConfigError, WeightsError, PlayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the games run side by side: the finished ones are the short ones, so none is kept
        print("interrupted: no scores (games run side by side; the finished ones would be a biased sample)")
        return 130
    out = report(cfg, weights, args, games)
    ci = f", 95% interval [{out['ci95'][0]:.1f}, {out['ci95'][1]:.1f}]" if out["ci95"] else ""
    std = f", std {out['std']:.1f}" if out["std"] is not None else ""
    done = f"{out['n']} of {args.episodes} games finished"
    print(f"{done}: mean {out['mean']:.1f}{std}{ci}" if games else "no game finished")
    if args.json:
        try:
            with open(args.json, "w") as fh:
                json.dump(out, fh, indent=1)
        except OSError as exc:
            print(f"error: cannot write {args.json}: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.json}")
    return 0 if games else 1


def run_eval_actor(cfg_dict: dict, weights, conn, stop_flag, heartbeat, seed: int, parent_pid: int) -> None:
    """Serve evaluation requests from the learner until it stops or goes away.

    weights: a `WeightSource` (the weight board). conn: a duplex pipe; receives a frame
    count (the learner's, when it asked), answers (frames of the weights evaluated, returns list).
    heartbeat: a `common.process.Heartbeat`, beaten while waiting and every agent step.
    """
    from actor.policy import Policy
    from common.env import make_env
    from common.model import build_model
    from common.process import act_inline, parent_alive

    act_inline()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the learner decides
    cfg = from_dict(cfg_dict)
    env = make_env(cfg.env, cfg.learner.eval_episodes, seed=seed)
    try:
        model = build_model(env.spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
        policy = Policy(model, cfg.algorithm, cfg.learner.eval_episodes, seed, greedy=True)
        schedule = algorithms.get(cfg).schedule(cfg, env.spec.frames_per_step)
        os.nice(EVAL_NICENESS)  # after the set-up, which the hung-actor check times at normal priority
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
            conn.send((schedule.frames_at(policy.version), returns))
    finally:
        env.close()


def eval_entry(*args) -> None:
    """Spawn target (`learner.evaluator`): a crash prints one traceback and exits 1."""
    from common.process import guarded_entry

    guarded_entry("eval actor", run_eval_actor, *args, quiet=(KeyboardInterrupt, BrokenPipeError, EOFError))


if __name__ == "__main__":
    import sys

    sys.exit(main())
