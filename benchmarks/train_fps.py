"""Frames/s actually trained by the learner for a config, over a wall-clock window.

    python benchmarks/train_fps.py --config configs/pong_a3c.yaml --actors 2 --seconds 120

Runs `python -m learner` for `--seconds` of training, then stops it with SIGTERM
and reads its metrics.csv: prints frames trained, frames/s over the whole window
(from launch), and the steady frames/s over the rows after the first
`--warmup` seconds. Writes the figures as JSON with `--json`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/pong_a3c.yaml")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--seconds", type=float, default=120.0, help="wall-clock seconds from launch to SIGTERM")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds excluded from the steady figure")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [sys.executable, "-m", "learner", "--config", args.config, "--actors", str(args.actors),
               "--run-dir", run_dir, "--name", "bench", "--set", "run.log_interval_seconds=5"]
        for o in args.overrides:
            cmd += ["--set", o]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            proc.wait(timeout=args.seconds)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
        rows = list(csv.DictReader(open(os.path.join(run_dir, "bench", "metrics.csv"))))
        summary = json.load(open(os.path.join(run_dir, "bench", "summary.json")))
    sys.stdout.write(out)
    steady = [r for r in rows if float(r["time/elapsed_s"]) >= args.warmup]
    if len(steady) >= 2:
        df = float(steady[-1]["charts/frames"]) - float(steady[0]["charts/frames"])
        dt = float(steady[-1]["time/elapsed_s"]) - float(steady[0]["time/elapsed_s"])
        steady_fps = df / dt
    else:
        steady_fps = float("nan")
    lags = [float(r["actor/policy_lag_mean"]) for r in steady]
    result = {
        "config": args.config,
        "actors": args.actors,
        "seconds": round(time.monotonic() - t0, 1),
        "frames_trained": summary["frames"],
        "fps_overall": round(summary["frames"] / summary["seconds"], 1),
        "fps_steady": round(steady_fps, 1),
        "first_update_seconds": summary["first_update_seconds"],
        "policy_lag_mean": round(sum(lags) / len(lags), 2) if lags else None,
        "cpu": f"{os.cpu_count()} x {cpu_model()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
