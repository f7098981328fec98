"""Frames, wall time and greedy score of the value methods on CartPole-v1.

    python benchmarks/value_methods_cartpole.py --methods q1step sarsa qnstep --seeds 0 1 2

For each method and seed: trains `configs/cartpole_<method>.yaml` with `python -m learner`
(2 actors unless `--actors`) to its frame budget, then plays the final weights greedily for
20 episodes (`actor.evaluate`). Prints one JSON line per run and a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")


def run_one(method: str, seed: int, actors: int, episodes: int) -> dict:
    import numpy as np

    from actor.evaluate import evaluate
    from common import config as config_lib

    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [
            sys.executable,
            "-m",
            "learner",
            "--config",
            f"configs/cartpole_{method}.yaml",
            "--actors",
            str(actors),
            "--seed",
            str(seed),
            "--run-dir",
            run_dir,
            "--name",
            "bench",
        ]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise SystemExit(f"error: {method} seed {seed} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        run = os.path.join(run_dir, "bench")
        with open(os.path.join(run, "summary.json")) as fh:
            summary = json.load(fh)
        cfg = config_lib.load(os.path.join(run, "config.json"))
        returns = evaluate(cfg, summary["checkpoint"], episodes=episodes)
    return {
        "method": method,
        "seed": seed,
        "actors": actors,
        "frames": summary["frames"],
        "train_seconds": round(summary["seconds"], 1),
        "wall_seconds_with_startup": round(wall, 1),
        "greedy_mean": round(float(np.mean(returns)), 1),
        "greedy_min": float(np.min(returns)),
        "actor_mean_return_100": summary["mean_return_last_100"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["q1step", "sarsa", "qnstep"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--episodes", type=int, default=20)
    args = p.parse_args()
    rows = []
    for method in args.methods:
        for seed in args.seeds:
            r = run_one(method, seed, args.actors, args.episodes)
            print(json.dumps(r), flush=True)
            rows.append(r)
    print("\n| method | seed | frames | train s | greedy mean (min) of 20 | actors' return(100) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['method']} | {r['seed']} | {r['frames']:,} | {r['train_seconds']} | "
            f"{r['greedy_mean']} ({r['greedy_min']:.0f}) | {r['actor_mean_return_100']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
