"""Play saved weights: `python -m actor.play runs/<name>` (or a `.weights.h5` file), watch, record, score.

The model is built from the run's `config.json` (or `--config` / `--env` for a bare weights
file), the weights are checked against it layer by layer, and `--episodes N` games are
played one after the other in the training env (same preprocessing, so the policy sees
what it was trained on), with raw, unclipped scores. Bad input gets one `error:` line
and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from common.process import catch_stop_signals, enable_compile_cache
from common.shell import command, command_name

enable_compile_cache()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=command_name("actor.play"),
        description="Play saved weights: print each episode's score and their mean, std, min and max; "
        "optionally show a window or record a GIF/MP4.",
    )
    p.add_argument("target", help="a run folder (runs/<name>: its checkpoints/latest.weights.h5) or a .weights.h5 file")
    p.add_argument("--config", help="YAML or config.json to build the model from (default: the run's config.json)")
    p.add_argument("--env", help="gymnasium id (sets env.id; with a bare weights file, the default model for it)")
    p.add_argument("--episodes", type=int, default=10, help="episodes to play (default 10)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--greedy",
        dest="greedy",
        action="store_true",
        default=None,
        help="always the best action (default for the value methods)",
    )
    mode.add_argument(
        "--sample",
        dest="greedy",
        action="store_false",
        help="sample from the policy (default for a3c); value methods: epsilon-greedy with --epsilon",
    )
    p.add_argument("--epsilon", type=float, default=0.05, help="value methods with --sample: random-action probability")
    p.add_argument("--seed", type=int, default=0, help="seed of the games and of the action sampling")
    p.add_argument(
        "--no-op-starts",
        type=int,
        metavar="N",
        help="Atari: up to N random no-op steps after each reset (default: the run's env.noop_max)",
    )
    p.add_argument(
        "--sticky",
        type=float,
        metavar="P",
        help="Atari: probability the emulator repeats the previous action (default: the run's env.sticky_actions)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="cut each episode after N agent steps (its score so far is reported, marked 'cut')",
    )
    p.add_argument("--render", action="store_true", help="show the game in a window (needs a display and pygame)")
    p.add_argument(
        "--record", metavar="OUT", help="write the played frames, in colour at the game's speed, to OUT.gif or OUT.mp4"
    )
    return p.parse_args(argv)


class PlayError(ValueError):
    """Bad command-line input; one line for the user."""


def resolve(args) -> tuple:
    """(config, weights path) for the command line, or WeightsError / ConfigError saying what is missing."""
    overrides = {}
    if args.no_op_starts is not None:
        overrides["env.noop_max"] = args.no_op_starts
    if args.sticky is not None:
        overrides["env.sticky_actions"] = args.sticky
    from common.weights import resolve_target

    return resolve_target(args.target, args.config, args.env, overrides)


def _check_protocol_flags(args, cfg) -> None:
    from common.env import is_atari

    if args.episodes < 1:
        raise PlayError(f"--episodes: must be >= 1, got {args.episodes}")
    if args.max_steps is not None and args.max_steps < 1:
        raise PlayError(f"--max-steps: must be >= 1, got {args.max_steps}")
    if not 0.0 <= args.epsilon <= 1.0:
        raise PlayError(f"--epsilon: must be in [0, 1], got {args.epsilon}")
    if not is_atari(cfg.env.id):
        for flag, value in (("--no-op-starts", args.no_op_starts), ("--sticky", args.sticky)):
            if value is not None:
                raise PlayError(f"{flag} applies to Atari games (ALE/...), not {cfg.env.id}")


def describe_protocol(cfg, greedy: bool, epsilon: float) -> str:
    from common import algorithms
    from common.env import is_atari

    policy = "greedy" if greedy else algorithms.get(cfg).describe_sampling(epsilon)
    if is_atari(cfg.env.id):
        policy += f", up to {cfg.env.noop_max} no-op starts, sticky actions {cfg.env.sticky_actions}"
    return policy


def load_model(cfg, spec, weights: str, seed: int):
    """The run's model with `weights` (.weights.h5 or .keras) loaded; WeightsError, one line, if they do not fit."""
    from common.weights import load_model_file

    return load_model_file(cfg, spec, weights, seed)


def play(
    env,
    model,
    algorithm: str,
    episodes: int,
    greedy: bool,
    epsilon: float,
    seed: int,
    max_steps: int | None,
    sinks: list,
    out=print,
    results: list | None = None,
    should_stop=lambda: False,
) -> list[dict]:
    """Play `episodes` games one after the other in the 1-env `env` (made with unclipped rewards);
    each colour frame goes to every sink. Returns {"score", "steps", "cut"} per episode, appended to
    `results` as each game ends (so a caller stopped early keeps the finished ones).
    should_stop: checked before every step; True ends play there (the game in progress is dropped)."""
    import numpy as np

    from actor.policy import Policy

    policy = Policy(model, algorithm, 1, seed, greedy=greedy)
    policy.epsilon = epsilon

    def show():
        for sink in sinks:
            sink.add(env.frames()[0])  # [H, W, 3] uint8, e.g. [210, 160, 3] on Atari

    results = [] if results is None else results
    obs = env.reset()  # [1, *obs_shape]
    show()
    score, steps = 0.0, 0
    while len(results) < episodes and not should_stop():
        actions, _outputs = policy.act(obs)
        step = env.step(actions)
        show()
        steps += 1
        score += float(step.reward[0])
        game_over = not np.isnan(step.episode_return[0])
        cut = not game_over and max_steps is not None and steps >= max_steps
        obs = step.obs
        policy.end_episodes(step.done)
        if game_over or cut:
            results.append({"score": float(step.episode_return[0]) if game_over else score, "steps": steps, "cut": cut})
            out(
                f"episode {len(results):3d}: score {results[-1]['score']:8.1f}  ({steps} steps{', cut' if cut else ''})"
            )
            score, steps = 0.0, 0
            if cut and len(results) < episodes:  # the next game, from a new seed: not the same game again
                obs = env.reset(seed=seed + len(results))
                policy.reset()
                show()
    return results


class CtrlC:
    """Ctrl-C as a flag that play checks between steps, so it always ends with the summary so far.

    A KeyboardInterrupt raised wherever the main thread happens to be can be swallowed (a library's
    cleanup code, an "Exception ignored" callback), and an inherited "ignore" setting for SIGINT
    would hide it entirely; a handler of our own has neither problem. A second Ctrl-C raises
    KeyboardInterrupt as usual. Install in the main thread; `restore` puts the previous handler back.
    """

    def __init__(self):
        self._count = 0
        in_main = threading.current_thread() is threading.main_thread()  # elsewhere: Ctrl-C as before
        self.restore = catch_stop_signals(self._on_ctrl_c, sigterm=False) if in_main else (lambda: None)

    def _on_ctrl_c(self, reason: str) -> None:
        self._count += 1
        if self._count > 1:
            raise KeyboardInterrupt

    def pressed(self) -> bool:
        return self._count > 0


def summary_line(results: list[dict]) -> str:
    import numpy as np

    scores = np.array([r["score"] for r in results])
    cut = sum(r["cut"] for r in results)
    return (
        f"{len(scores)} episodes{f' ({cut} cut)' if cut else ''}: mean {scores.mean():.1f}, "
        f"std {scores.std():.1f}, min {scores.min():.1f}, max {scores.max():.1f}"
    )


def _play_until_done_or_ctrl_c(env, model, algorithm: str, greedy: bool, args, sinks: list, results: list) -> bool:
    """`play` the requested games into `results`; True if Ctrl-C ended it before the last one."""
    stop = CtrlC()
    try:
        play(
            env,
            model,
            algorithm,
            args.episodes,
            greedy,
            args.epsilon,
            args.seed,
            args.max_steps,
            sinks,
            out=lambda line: print(line, flush=True),
            results=results,
            should_stop=stop.pressed,
        )
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, still keeping what was played
        pass
    finally:
        stop.restore()
    return stop.pressed() and len(results) < args.episodes


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from actor.video import VideoError, Window, check_display, check_record_path, open_recording
    from common import algorithms
    from common.config import ConfigError
    from common.env import make_env
    from common.weights import WeightsError

    env, sinks, results = None, [], []
    if (
        not args.render
    ):  # colour frames without a window: keep SDL (pygame, under gymnasium's rendering) off the display
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        cfg, weights = resolve(args)
        _check_protocol_flags(args, cfg)
        greedy = args.greedy if args.greedy is not None else algorithms.get(cfg).greedy_by_default
        if args.render:
            check_display()
        if args.record:
            check_record_path(args.record)
        env = make_env(cfg.env, 1, seed=args.seed, with_frames=bool(args.render or args.record))
        model = load_model(cfg, env.spec, weights, args.seed)
        print(
            f"playing {weights}: {cfg.algorithm} on {cfg.env.id}, {describe_protocol(cfg, greedy, args.epsilon)}, "
            f"seed {args.seed}",
            flush=True,
        )
        if args.record:
            sinks.append(open_recording(args.record, env.frame_rate))
        if args.render:
            sinks.append(Window(env.frame_rate))
        interrupted = _play_until_done_or_ctrl_c(env, model, cfg.algorithm, greedy, args, sinks, results)
        if results:
            print(("interrupted: " if interrupted else "") + summary_line(results))
        for sink in sinks:
            count = sink.close()
            if count:
                print(f"recorded {count} frames at {env.frame_rate:g} fps to {args.record}")
        return 130 if interrupted else 0
    except (ConfigError, WeightsError, PlayError, VideoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if env is not None:
            env.close()


if __name__ == "__main__":
    sys.exit(main())
