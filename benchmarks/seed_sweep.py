"""Train one preset on N seeds, as `make train` does, and score each run's final file.

    python benchmarks/seed_sweep.py --config configs/cartpole_a3c.yaml --seeds 0-9
    python benchmarks/seed_sweep.py --config configs/cartpole_qnstep.yaml --seeds 0 1 2 --out sweep.json

Per seed: `python -m learner --config C --seed S --actors 2` over the preset's whole frame budget
(in a temporary folder unless `--keep`; with `run.target_return` set, which only records when
the mean of the last 20 episodes first reaches the target), then the final `latest.weights.h5`
plays `--episodes` games greedily and `--episodes` games sampling (`actor.evaluate`, side by side).
Prints one JSON line per seed, then a Markdown table and how many seeds' final files reach the target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")


def parse_seeds(items: list[str]) -> list[int]:
    """["0-3", "7"] -> [0, 1, 2, 3, 7]."""
    seeds = []
    for item in items:
        lo, _, hi = item.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def train_one(config: str, seed: int, actors: int, target: float, run_dir: str, extra: list[str]) -> dict:
    """One run of the preset in its own process; its summary.json, plus the wall time with start-up."""
    cmd = [
        sys.executable,
        "-m",
        "learner",
        "--config",
        config,
        "--seed",
        str(seed),
        "--actors",
        str(actors),
        "--run-dir",
        run_dir,
        "--name",
        "sweep",
        "--overwrite",  # a kept folder of an earlier sweep is replaced, never numbered sweep-2
        "--set",
        f"run.target_return={target}",
        *extra,
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(
            f"error: seed {seed} exited with {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    with open(os.path.join(run_dir, "sweep", "summary.json")) as fh:
        summary = json.load(fh)
    summary["wall_seconds"] = wall
    return summary


def score(run: str, checkpoint: str, episodes: int) -> tuple[list[float], list[float]]:
    """(greedy returns, sampled returns) of the final file, `episodes` games each."""
    from actor.evaluate import evaluate
    from common import config as config_lib

    cfg = config_lib.load(os.path.join(run, "config.json"))
    return evaluate(cfg, checkpoint, episodes=episodes), evaluate(cfg, checkpoint, episodes=episodes, greedy=False)


def sweep_row(config: str, seed: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(args.keep, f"seed{seed}") if args.keep else tmp
        s = train_one(config, seed, args.actors, args.target, run_dir, args.set)
        greedy, sampled = score(os.path.join(run_dir, "sweep"), s["checkpoint"], args.episodes)
    reached = s["reached_target_at"]
    return {
        "seed": seed,
        "frames": s["frames"],
        "train_seconds": round(s["seconds"], 1),
        "frames_to_target": reached["frames"] if reached else None,
        "seconds_to_target": round(reached["seconds"], 1) if reached else None,
        "return_100": round(s["mean_return_last_100"], 1) if s["mean_return_last_100"] is not None else None,
        "greedy_mean": round(statistics.fmean(greedy), 1),
        "greedy_min": min(greedy),
        "sampled_mean": round(statistics.fmean(sampled), 1),
        "sampled_min": min(sampled),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| seed | frames to target | seconds to target | final return(100) | greedy mean (min) | "
        "sampled mean (min) |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for r in rows:
        to_f = f"{r['frames_to_target']:,}" if r["frames_to_target"] is not None else "never"
        to_s = f"{r['seconds_to_target']}" if r["seconds_to_target"] is not None else "-"
        lines.append(
            f"| {r['seed']} | {to_f} | {to_s} | {r['return_100']} | {r['greedy_mean']} ({r['greedy_min']:.0f}) "
            f"| {r['sampled_mean']} ({r['sampled_min']:.0f}) |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="preset, e.g. configs/cartpole_a3c.yaml")
    p.add_argument("--seeds", nargs="+", default=["0-9"], help="seeds or ranges, e.g. 0-9 or 0 3 7")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--target", type=float, default=475.0, help="return a final file must reach (mean of the games)")
    p.add_argument("--episodes", type=int, default=20, help="games per score (greedy, then sampled)")
    p.add_argument("--judge", choices=["greedy", "sampled"], default="greedy", help="which score must reach --target")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed on to the learner")
    p.add_argument("--out", help="also write the rows as JSON here")
    p.add_argument("--keep", metavar="DIR", help="keep each run's folder as DIR/seed<S>/sweep (default: deleted)")
    args = p.parse_args()
    args.set = [x for kv in args.set for x in ("--set", kv)]

    rows = []
    for seed in parse_seeds(args.seeds):
        rows.append(sweep_row(os.path.abspath(args.config), seed, args))
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"config": args.config, "set": args.set, "rows": rows}, fh, indent=2)
    print(table(rows))
    passed = [r for r in rows if r[f"{args.judge}_mean"] >= args.target]
    reached = [r["seconds_to_target"] for r in rows if r["seconds_to_target"] is not None]
    median = f"; median seconds to target {statistics.median(reached):.1f}" if reached else ""
    print(f"final file {args.judge} >= {args.target:g}: {len(passed)}/{len(rows)} seeds{median}")
    return 0 if len(passed) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
