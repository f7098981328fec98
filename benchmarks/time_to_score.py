"""Time to score: frames and minutes until a preset's in-run greedy evaluation reaches a target.

    python benchmarks/time_to_score.py --config configs/pong_a3c.yaml --target 15 18 \\
        --max-frames 5_000_000 --run-dir /tmp/screens [--set model.torso=paper ...]

1. Env-only limit, measured first in the same invocation (`throughput.env_only`: the config's
   env stepping random actions on every core, no learning).
2. `python -m learner` on the config (plus `--set`s) with `run.stop_at_frames` = `--max-frames`,
   so the learning-rate and entropy schedules still run over the preset's whole budget. The run
   folder is kept (`--run-dir`; continue a cut-off screen with `--resume RUN_DIR`). Its metrics.csv
   is polled: once the greedy evaluation (`learner.eval_interval`, `learner.eval_episodes`) reaches
   the highest target, the learner gets SIGTERM and stops with a checkpoint.
3. For each target: the frames of the first evaluation that reached it, and the training seconds at
   those frames (`time/elapsed_s`, interpolated between metrics rows; start-up included); the
   trained frames/s over the steady window (after `--warmup` seconds) and the minutes to the target
   at that rate (frames / frames/s: the figure to compare between settings and machines).

Prints one line and writes JSON (`--json`, default `<run>/time_to_score.json`), also when stopped by Ctrl-C
or SIGTERM (the learner then stops with a checkpoint, and `--resume` goes on; its log is written beside
the run folder). Every figure is of
this one run and this machine: compare settings on one idle machine, back to back.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")

from benchmarks.throughput import cpu_model, env_only  # noqa: E402

POLL_S = 5.0


# ---------------------------------------------------------------- reading metrics.csv (pure)


def read_rows(metrics_csv: str | Path) -> list[dict[str, float]]:
    """metrics.csv -> rows of floats (empty cells -> NaN); [] while the file does not exist yet."""
    try:
        with open(metrics_csv) as fh:
            return [{k: _float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    except FileNotFoundError:
        return []


def _float(v: str | None) -> float:
    try:
        return float(v) if v not in (None, "") else math.nan
    except ValueError:
        return math.nan


def evaluations(rows: list[dict[str, float]]) -> list[tuple[int, float]]:
    """(frames of the weights evaluated, mean greedy return) of every finished evaluation, in order."""
    out = []
    for r in rows:
        mean, frames = r.get("eval/episodic_return", math.nan), r.get("eval/frames", math.nan)
        if not (math.isnan(mean) or math.isnan(frames)):
            out.append((int(frames), mean))
    return out


def elapsed_at(rows: list[dict[str, float]], frames: float) -> float:
    """Training seconds at which `frames` were trained, linear between the two rows around it."""
    points = [(r["charts/frames"], r["time/elapsed_s"]) for r in rows]
    prev = (0.0, 0.0)
    for f, s in points:
        if f >= frames:
            f0, s0 = prev
            return s0 + (s - s0) * (frames - f0) / (f - f0) if f > f0 else s
        prev = (f, s)
    return points[-1][1] if points else math.nan


def first_reach(rows: list[dict[str, float]], target: float) -> dict | None:
    """The first evaluation whose mean return is >= target: its frames, score and training seconds."""
    for frames, mean in evaluations(rows):
        if mean >= target:
            return {"frames": frames, "score": round(mean, 2), "elapsed_s": round(elapsed_at(rows, frames), 1)}
    return None


def steady_fps(rows: list[dict[str, float]], warmup_s: float) -> float | None:
    """Frames/s trained between the first row after `warmup_s` training seconds and the last row."""
    steady = [r for r in rows if r["time/elapsed_s"] >= warmup_s]
    if len(steady) < 2:
        return None
    first, last = steady[0], steady[-1]
    dt = last["time/elapsed_s"] - first["time/elapsed_s"]
    return (last["charts/frames"] - first["charts/frames"]) / dt if dt > 0 else None


def score_report(rows: list[dict[str, float]], targets: list[float], warmup_s: float) -> dict:
    """What the benchmark reports of one run's metrics rows."""
    fps = steady_fps(rows, warmup_s)
    reached = {}
    for t in targets:
        hit = first_reach(rows, t)
        if hit is not None and fps:
            hit["minutes_at_steady_fps"] = round(hit["frames"] / fps / 60, 1)
        reached[_key(t)] = hit
    last = rows[-1] if rows else {}
    return {
        "targets": reached,
        "frames_trained": int(last.get("charts/frames", 0)),
        "elapsed_s": round(last.get("time/elapsed_s", 0.0), 1),
        "steady_frames_per_s": round(fps, 1) if fps else None,
        "evaluations": [[f, round(m, 2), round(elapsed_at(rows, f), 1)] for f, m in evaluations(rows)],
    }


def _key(target: float) -> str:
    return f"{target:g}"


# ---------------------------------------------------------------- running the learner


def learner_command(args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "learner"]
    if args.resume:
        cmd += ["--resume", args.resume]
    else:
        cmd += ["--config", args.config, "--actors", str(args.actors), "--run-dir", args.run_dir]
        if args.name:
            cmd += ["--name", args.name]
    cmd += ["--set", f"run.stop_at_frames={args.max_frames}"]
    for o in args.overrides:
        cmd += ["--set", o]
    return cmd


def run_folder_from_log(log_path: Path) -> Path | None:
    """The run folder the learner announced on its first lines ('[learner PID] run PATH: a3c on ...')."""
    found = re.search(r"\] run (\S+): ", log_path.read_text(errors="replace"))
    return Path(found.group(1)) if found else None


def train_until_target(args: argparse.Namespace, log_path: Path) -> tuple[Path, int]:
    """Runs the learner, stopping it once the highest target is reached; (run folder, learner's exit code)."""
    top = max(args.target)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(learner_command(args), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        # A SIGTERM to this screen stops its learner with a checkpoint, and the report is still written.
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
        run_path: Path | None = Path(args.resume) if args.resume else None
        try:
            while proc.poll() is None:
                time.sleep(POLL_S)
                run_path = run_path or run_folder_from_log(log_path)
                if run_path and first_reach(read_rows(run_path / "metrics.csv"), top):
                    print(f"[time_to_score] greedy evaluation reached {top:g}; stopping the learner", flush=True)
                    proc.send_signal(signal.SIGTERM)
                    break
            code = proc.wait()
        except KeyboardInterrupt:  # the learner got the Ctrl-C too and stops with a checkpoint
            code = proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
    run_path = run_path or run_folder_from_log(log_path)
    if run_path is None:
        raise SystemExit(
            f"error: the learner exited with {code} before naming its run folder; log:\n{log_path.read_text()}"
        )
    return run_path, code


# ---------------------------------------------------------------- report


def one_line(result: dict) -> str:
    parts = []
    for t, hit in result["targets"].items():
        if hit is None:
            parts.append(f"{t}: not reached")
        else:
            parts.append(
                f"{t}: {hit['frames'] / 1e6:.2f}M frames, {hit['elapsed_s'] / 60:.1f} min in this run, "
                f"{hit.get('minutes_at_steady_fps', 'n/a')} min at the steady rate"
            )
    fps, limit = result["steady_frames_per_s"], result["env_only"]["frames_per_s"]
    rate = f"{fps:,.0f} frames/s trained ({fps / limit:.2f} of the env-only {limit:,.0f})" if fps else "no steady rate"
    return f"[time_to_score] {result['config']} {' '.join(result['overrides'])}: " + "; ".join(parts) + f"; {rate}"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/pong_a3c.yaml")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a screen's run folder (its own config)")
    p.add_argument("--target", type=float, nargs="+", default=[15.0, 18.0], help="greedy mean returns to time")
    p.add_argument("--max-frames", type=int, required=True, help="frame budget of this screen (run.stop_at_frames)")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--run-dir", default="runs", help="where the run folder goes (keep it outside the checkout)")
    p.add_argument("--name", help="run name (default: the config's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--warmup", type=float, default=60.0, help="training seconds left out of the steady rate")
    p.add_argument("--env-seconds", type=float, default=10.0, help="seconds of env-only stepping")
    p.add_argument("--envs-per-core", type=int, default=8)
    p.add_argument("--json", help="output file (default: <run folder>/time_to_score.json)")
    args = p.parse_args()
    if args.max_frames <= 0:
        p.error("--max-frames must be > 0")
    return args


def main() -> int:
    args = parse_args()
    config = os.path.join(args.resume, "config.json") if args.resume else args.config
    if not os.path.exists(config):
        raise SystemExit(f"error: {config} does not exist")
    print(f"[time_to_score] env-only for {args.env_seconds:.0f}s ...", flush=True)
    limit = env_only(config, None, args.env_seconds, args.envs_per_core)
    log_dir = os.path.dirname(os.path.abspath(args.resume)) if args.resume else args.run_dir  # beside the run
    os.makedirs(log_dir, exist_ok=True)
    log_path = Path(log_dir) / f"time_to_score.{os.getpid()}.log"
    print(f"[time_to_score] training (log: {log_path}) ...", flush=True)
    run_path, code = train_until_target(args, log_path)
    result = {
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "config": args.config if not args.resume else config,
        "overrides": args.overrides,
        "run": str(run_path),
        "learner_exit_code": code,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model()},
        "env_only": limit,
        **score_report(read_rows(run_path / "metrics.csv"), args.target, args.warmup),
    }
    out = args.json or str(run_path / "time_to_score.json")
    with open(out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(one_line(result))
    print(f"[time_to_score] wrote {out}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
