"""Training entry point: `python -m learner --config configs/cartpole_a3c.yaml --actors 2`."""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

from common.process import enable_compile_cache
from common.shell import command, command_name

enable_compile_cache()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=command_name("learner"),
        description="Train an asynchronous RL agent: spawns local actors, trains, writes runs/<name>/.",
    )
    p.add_argument("--config", help="YAML experiment file (default: built-in defaults, CartPole A3C)")
    p.add_argument("--env", help="gymnasium id, e.g. CartPole-v1 or ALE/Pong-v5 (sets env.id)")
    p.add_argument("--actors", type=int, help="local actor processes (sets actor.count)")
    p.add_argument("--run-dir", help="parent folder for run outputs (sets run.dir)")
    p.add_argument("--name", help="run name; outputs go to <run-dir>/<name> (sets name)")
    p.add_argument("--seed", type=int, help="random seed (sets seed)")
    p.add_argument("--total-frames", type=int, help="training budget in frames (sets total_frames)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set learner.learning_rate=3e-4 (repeatable)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue runs/<name> from its newest checkpoint, with its config.json and the changes of its "
        "earlier legs (--total-frames, --actors and --set still apply, recorded in its resumes.jsonl)",
    )
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in <run-dir>/<name> (default: a taken folder makes this run <name>-2, -3, ...)",
    )
    start.add_argument(
        "--resume-or-start",
        action="store_true",
        help="continue the newest run of <name> (<name>, <name>-2, ...) if it is unfinished, else start a new "
        "one; a finished run is left as it is (for orchestrators that restart the learner)",
    )
    p.add_argument("--track", action="store_true", help="log the run to Weights & Biases (sets run.track)")
    p.add_argument("--wandb-project", help="Weights & Biases project (sets run.wandb_project; default asyncrl)")
    p.add_argument("--help-config", action="store_true", help="list every config field with its default and meaning")
    return p.parse_args(argv)


def resume_config(args: argparse.Namespace, overrides: dict):
    """The config of the run in `args.resume` (config.json with what its later legs changed), with the command
    line's overrides; ConfigError if unusable."""
    from common import config as config_lib
    from common.config import ConfigError
    from common.run_record import with_resumes

    for flag in ("config", "name", "run_dir"):
        if getattr(args, flag) is not None:
            raise ConfigError(
                f"--resume uses the run's own config.json, name and folder; drop --{flag.replace('_', '-')}"
            )
    run_path = os.path.normpath(args.resume)
    if os.path.basename(run_path) in ("", ".", ".."):  # `--resume .` from inside the run folder
        run_path = os.path.abspath(run_path)
    saved = os.path.join(run_path, "config.json")
    if not os.path.isfile(saved):
        raise ConfigError(f"--resume: {args.resume!r} is not a run folder (no config.json in it)")
    try:
        with open(saved) as fh:
            text = fh.read()
        data = json.loads(text) if text.strip() else None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"--resume: {saved} cannot be read as JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or not data:
        found = "an empty file" if not text.strip() else json.dumps(data)
        raise ConfigError(f"--resume: {saved} holds no run config ({found}); nothing to resume")
    try:
        data = with_resumes(data, run_path)  # the settings the run's last leg left in force
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--resume: {exc}") from None
    overrides = {**overrides, "run.dir": os.path.dirname(run_path) or ".", "name": os.path.basename(run_path)}
    return config_lib.from_dict(data, overrides)


def choose_start(args: argparse.Namespace, overrides: dict):
    """(config, resume?, overwrite?) for the command line: a new run, a replaced one, or a continued one."""
    from common import config as config_lib
    from common.config import ConfigError
    from common.process import get_logger
    from learner.run_folder import resume_or_start

    if args.resume is not None:
        if args.overwrite or args.resume_or_start:
            raise ConfigError("--resume continues a run: drop --overwrite / --resume-or-start")
        return resume_config(args, overrides), True, False
    cfg = config_lib.load(args.config, overrides)
    if args.resume_or_start:
        choice = resume_or_start(cfg.run.dir, cfg.name)
        if choice.note:
            get_logger("learner").info(choice.note)
        if choice.resume:
            args.config = args.name = args.run_dir = None  # they located the run; its own config.json rules
            args.resume = choice.path
            return resume_config(args, overrides), True, False
        # A new run next to a finished one claims its folder as any new run does (claim_new); the newest folder
        # of the name without a checkpoint to continue from is started again, replacing what that run left.
        cfg = config_lib.from_dict(config_lib.to_dict(cfg), {"name": os.path.basename(choice.path)})
        return cfg, False, choice.replace
    return cfg, False, args.overwrite


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from common import config as config_lib
    from common.config import ConfigError

    if args.help_config:
        print("\n".join(config_lib.describe()))
        return 0
    from learner.train import StopRequest, train

    stop = StopRequest()
    stop.install()  # before the slow imports and set-up: a SIGTERM then still exits cleanly
    try:
        overrides = dict(config_lib.parse_override(o) for o in args.overrides)
        for flag, key in (
            ("env", "env.id"),
            ("actors", "actor.count"),
            ("run_dir", "run.dir"),
            ("name", "name"),
            ("seed", "seed"),
            ("total_frames", "total_frames"),
            ("wandb_project", "run.wandb_project"),
        ):
            if getattr(args, flag) is not None:
                overrides[key] = getattr(args, flag)
        if args.track:
            overrides["run.track"] = True
        cfg, resume, overwrite = choose_start(args, overrides)
        if stop.reason is None:
            train(cfg, stop=stop, resume=resume, overwrite=overwrite)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. ActorCrashLoop: the cause was printed by the actor
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except PermissionError as exc:  # e.g. a mounted runs/ folder owned by another user (Docker)
        print(f"error: cannot write {exc.filename}: permission denied", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 130 if stop.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
