"""A3C on CartPole with artificially stale actors, with and without V-trace.

    python benchmarks/staleness_vtrace.py --refresh 1 8 32 --seeds 0 1 --budget 1000000

Staleness: every actor pulls new weights only every K unrolls (`actor.weight_refresh_unrolls`),
so it acts with weights up to ~K x actors updates old. For each K, correction (none, vtrace) and
seed, trains `configs/cartpole_a3c.yaml` until the mean return of 20 episodes reaches 475
(`run.stop_at_return`) or the frame budget runs out, and reports the frames to 475 (or the
best return(100) reached) and the mean policy lag. Prints a table and one JSON line per run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_one(k: int, correction: str, seed: int, budget: int, actors: int) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [
            sys.executable,
            "-m",
            "learner",
            "--config",
            "configs/cartpole_a3c.yaml",
            "--actors",
            str(actors),
            "--seed",
            str(seed),
            "--total-frames",
            str(budget),
            "--run-dir",
            run_dir,
            "--name",
            "bench",
            "--set",
            f"actor.weight_refresh_unrolls={k}",
            "--set",
            f"learner.correction={correction}",
            "--set",
            "run.stop_at_return=475",
            "--set",
            "run.log_interval_seconds=1",
        ]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(
                f"error: K={k} {correction} seed {seed} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        with open(os.path.join(run_dir, "bench", "summary.json")) as fh:
            summary = json.load(fh)
        with open(os.path.join(run_dir, "bench", "metrics.csv")) as fh:
            rows = list(csv.DictReader(fh))
    returns = [float(r["charts/mean_return_100"]) for r in rows if r["charts/mean_return_100"] not in ("", "nan")]
    lags = [float(r["actor/policy_lag_mean"]) for r in rows]
    solved = summary["solved_at"]
    return {
        "refresh_unrolls": k,
        "correction": correction,
        "seed": seed,
        "solved": solved is not None,
        "frames_to_475": solved["frames"] if solved else None,
        "seconds_to_475": round(solved["seconds"], 1) if solved else None,
        "best_return_100": round(max(returns), 1) if returns else None,
        "policy_lag_mean": round(sum(lags) / len(lags), 1) if lags else None,
        "frames": summary["frames"],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--refresh", nargs="+", type=int, default=[1, 8, 32])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--budget", type=int, default=1_000_000, help="frames per run")
    p.add_argument("--actors", type=int, default=2)
    args = p.parse_args()
    rows = []
    for k in args.refresh:
        for correction in ("none", "vtrace"):
            for seed in args.seeds:
                r = run_one(k, correction, seed, args.budget, args.actors)
                print(json.dumps(r), flush=True)
                rows.append(r)
    print(
        "\n| K (refresh every K unrolls) | correction | seed | policy lag mean | frames to 475 | s to 475 "
        "| best return(100) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        f = f"{r['frames_to_475']:,}" if r["solved"] else f"not in {r['frames']:,}"
        s = r["seconds_to_475"] if r["solved"] else "-"
        print(
            f"| {r['refresh_unrolls']} | {r['correction']} | {r['seed']} | {r['policy_lag_mean']} | {f} | {s} | "
            f"{r['best_return_100']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
