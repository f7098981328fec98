"""What a remote actor sends, and what training with remote actors costs against local ones.

    python benchmarks/remote_bandwidth.py --config configs/pong_a3c.yaml --actors 2 --seconds 60

Two runs of `python -m learner` on the config, each stopped with SIGTERM after its window:
1. local: `--actors N` actor processes of its own;
2. remote: 0 local actors, `remote.enabled` on a free loopback port, and N `python -m actor
   --learner 127.0.0.1:PORT` processes.
Over the steady window (`--seconds` long, from `--warmup` seconds after the first metrics) it reads frames/s trained
from the learner's metrics.csv and, in the remote run, the bytes the actor processes wrote
(`wchar` of /proc/PID/io: their socket sends, plus a few log lines). From those: bytes per agent
step, bytes/s per remote actor, and how many such actors fill a 1 Gbit/s link.

Any commit's code can be measured: `--root` points at another checkout (`git worktree add`).
Prints a table and writes JSON (`--json`), which names the commit measured, not the folder it lay in.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.proctree import tree  # noqa: E402
from benchmarks.soak import free_port  # noqa: E402

LINK_BYTES_PER_S = 1e9 / 8  # 1 Gbit/s


def commit_of(root: str) -> str:
    res = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return res.stdout.strip() or "unknown (not a git checkout)"


def written_bytes(pids: list[int]) -> int:
    """Bytes written (write/send syscalls) by these processes and all their children."""
    total = 0
    for root in pids:
        for pid in tree(root):
            try:
                with open(f"/proc/{pid}/io") as fh:
                    total += next(int(line.split()[1]) for line in fh if line.startswith("wchar:"))
            except (OSError, StopIteration):
                pass  # gone, or not ours to read
    return total


def latest_row(metrics_csv: str) -> dict | None:
    try:
        with open(metrics_csv) as fh:
            rows = list(csv.DictReader(fh))
    except OSError:
        return None
    return rows[-1] if rows else None


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()


def one_run(args, remote: bool) -> dict:
    """Train for args.seconds; frames/s over the steady window and, if remote, the actors' bytes."""
    with tempfile.TemporaryDirectory() as run_dir:
        env = dict(os.environ, ASYNCRL_AUTHKEY=secrets.token_hex(16))
        port = free_port()
        cmd = [sys.executable, "-m", "learner", "--config", args.config, "--run-dir", run_dir, "--name", "bench"]
        cmd += ["--actors", "0" if remote else str(args.actors), "--set", "run.log_interval_seconds=1"]
        cmd += ["--total-frames", str(10**10)]  # the window ends the run, not the budget
        if remote:
            cmd += ["--set", "remote.enabled=true", "--set", f"remote.port={port}"]
        log = open(os.path.join(run_dir, "stdout.log"), "w")
        procs = [subprocess.Popen(cmd, cwd=args.root, env=env, stdout=log, stderr=subprocess.STDOUT)]
        if remote:
            actor = [sys.executable, "-m", "actor", "--learner", f"127.0.0.1:{port}", "--processes", "1"]
            procs += [
                subprocess.Popen(actor, cwd=args.root, env=env, stdout=log, stderr=subprocess.STDOUT)
                for _ in range(args.actors)
            ]
        metrics = os.path.join(run_dir, "bench", "metrics.csv")
        try:
            deadline = time.monotonic() + 600
            while latest_row(metrics) is None and time.monotonic() < deadline and procs[0].poll() is None:
                time.sleep(0.5)  # start-up: imports, XLA compiles, actors connecting
            time.sleep(args.warmup)
            start_row, start_bytes = latest_row(metrics), written_bytes([p.pid for p in procs[1:]])
            time.sleep(args.seconds)
            end_row, end_bytes = latest_row(metrics), written_bytes([p.pid for p in procs[1:]])
        finally:
            stop(procs)
            log.close()
        if start_row is None or end_row is None or start_row["charts/frames"] == end_row["charts/frames"]:
            raise SystemExit(f"error: no training in the window; log:\n{open(log.name).read()[-3000:]}")
    f = lambda r, k: float(r[k])  # noqa: E731
    dt = f(end_row, "time/elapsed_s") - f(start_row, "time/elapsed_s")
    frames = f(end_row, "charts/frames") - f(start_row, "charts/frames")
    out = {"mode": "remote" if remote else "local", "actors": args.actors, "window_s": round(dt, 1)}
    out["frames_per_s"] = round(frames / dt, 1)
    if remote:
        out["bytes_sent"] = end_bytes - start_bytes
        out["bytes_per_agent_step"] = round(out["bytes_sent"] / (frames / args.frame_skip), 1)
        out["bytes_per_s_per_actor"] = round(out["bytes_sent"] / dt / args.actors, 1)
        out["actors_per_gbit_link"] = int(LINK_BYTES_PER_S / out["bytes_per_s_per_actor"])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/pong_a3c.yaml")
    p.add_argument("--actors", type=int, default=2, help="actor processes, local in one run and remote in the other")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of the measured window, per run")
    p.add_argument("--warmup", type=float, default=15.0, help="seconds of training before the window")
    p.add_argument("--root", default=ROOT, help="checkout whose code runs (default: this one)")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()
    if args.seconds < 10:
        raise SystemExit("error: --seconds: a window of 10 s or more")
    from common import config as config_lib

    env = config_lib.load(os.path.join(args.root, args.config)).env
    args.frame_skip = env.frame_skip if env.id.startswith("ALE/") else 1
    runs = [one_run(args, remote=False), one_run(args, remote=True)]
    local, remote = runs
    print(f"{args.config}, {args.actors} actors, code at {args.root}")
    print(f"frames/s trained: local {local['frames_per_s']:,.0f}, remote {remote['frames_per_s']:,.0f}")
    print(
        f"remote actor: {remote['bytes_per_agent_step']:,.0f} bytes per agent step, "
        f"{remote['bytes_per_s_per_actor'] / 1e6:,.2f} MB/s each; "
        f"a 1 Gbit/s link takes {remote['actors_per_gbit_link']} such actors"
    )
    if args.json:
        with open(args.json, "w") as fh:
            record = {"config": args.config, "commit": commit_of(args.root), "date": time.strftime("%Y-%m-%d")}
            json.dump(dict(record, runs=runs), fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
