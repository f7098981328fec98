"""Where each process of a training run spends its CPU: env stepping, inference, the train step, ...

    python benchmarks/profile_split.py --config configs/pong_a3c.yaml --actors 2 --seconds 30

Starts `python -m learner` on the config (in-run evaluation off unless `--set` turns it on), waits
`--warmup` seconds, then for `--seconds` measures every process of the run (learner, actors):

1. CPU seconds of each OS thread, from /proc (utime + stime) before and after the window. Threads
   named tf_XLA* run XLA's compiled programs: in the learner, the train step; in an actor, the policy
   call. Their CPU is counted under that heading.
2. What the Python threads do while on a CPU: `py-spy record --nonblocking` (active samples only;
   the process is not paused), each stack put in the first category whose frames it contains
   (CATEGORIES). A sample is 1/rate seconds of CPU. An actor's "policy inference (main thread)" is
   whatever its main thread does inside `actor/policy.py`: the call's dispatch, its wait for XLA's
   threads (a wait that spins is CPU), and taking newer weights (`Policy.load`);
   `benchmarks/policy_call.py` times the call, its dispatch and the load alone.
3. The rest of a process's CPU ran in native threads that py-spy cannot see: in an actor, the
   emulator threads of ale-py's vector env (env stepping).
4. Waiting: the wall-clock share in which the main thread was off the CPU (blocked on a queue,
   a lock, or on XLA finishing a step it dispatched).

Prints one table per process and writes JSON (`--json`). Needs py-spy (`pip install py-spy`) and
ptrace rights over the run's processes (root, or the same user with ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.proctree import role, tree  # noqa: E402
from benchmarks.throughput import cpu_model  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")

# (category, substrings of a frame); a stack goes to the first category one of its frames contains.
CATEGORIES = [
    ("publishing weights", ("_publish", "WeightBoard.publish")),
    ("fetching weights", ("WeightBoard.fetch",)),
    ("train step (Python side)", ("learner/train_step.py", "learn (learner/train.py")),
    ("env stepping", ("ale_py", "common/env.py", "gymnasium")),
    ("policy inference (main thread)", ("actor/policy.py",)),
    ("batching and copies", ("learner/batcher.py", "common/transport", "actor/loop.py")),
    ("metrics and logging", ("learner/metrics.py", "learner/progress.py", "log_progress", "tensorboard")),
]
XLA_HEADING = {"learner": "train step (XLA)", "actor": "policy inference (XLA)"}
NATIVE_HEADING = {"learner": "native threads (other)", "actor": "env stepping (ALE threads)"}


def classify(stack: str) -> str:
    """The category of one py-spy raw stack ('frame;frame;...;leaf')."""
    for name, needles in CATEGORIES:
        if any(n in stack for n in needles):
            return name
    return "other Python"


def parse_raw(text: str) -> Counter:
    """Samples per category of a py-spy `--format raw` file (lines 'stack count')."""
    out: Counter = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            out[classify(stack)] += int(count)
    return out


def thread_ticks(pid: int) -> dict[int, tuple[str, int]]:
    """tid -> (thread name, utime + stime in clock ticks) of every thread of `pid`."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task") if os.path.isdir(f"/proc/{pid}/task") else []:
        try:
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(tid)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def cpu_split(pid: int, before: dict, after: dict) -> dict[str, float]:
    """CPU seconds in the window: all threads, XLA's threads, and the main thread."""
    total = xla = main = 0.0
    for tid, (comm, ticks) in after.items():
        used = (ticks - before.get(tid, (comm, 0))[1]) / TICK
        total += used
        xla += used if comm.startswith("tf_XLA") else 0.0
        main += used if tid == pid else 0.0
    return {"total": total, "xla": xla, "main": main}


def breakdown(kind: str, cpu: dict[str, float], samples: Counter, rate: float, seconds: float) -> dict:
    """Seconds per heading for one process, and its CPU and waiting shares."""
    python_s = {k: v / rate for k, v in samples.items()}
    native = max(0.0, cpu["total"] - cpu["xla"] - sum(python_s.values()))
    parts = {XLA_HEADING[kind]: cpu["xla"], **python_s, NATIVE_HEADING[kind]: native}
    return {
        "cpu_cores": round(cpu["total"] / seconds, 2),
        "main_thread_waiting": round(max(0.0, 1 - cpu["main"] / seconds), 2),
        "share_of_cpu": {
            k: round(v / cpu["total"], 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v > 0
        },
    }


def start_learner(args: argparse.Namespace, run_dir: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "learner", "--config", args.config, "--actors", str(args.actors)]
    cmd += ["--run-dir", run_dir, "--name", "profile", "--set", "learner.eval_interval=0"]
    for o in args.overrides:
        cmd += ["--set", o]
    log = open(Path(run_dir) / "learner.log", "w")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def record(pids: list[int], args: argparse.Namespace, out_dir: str) -> dict[int, Counter]:
    """py-spy on every pid at once, for `--seconds`; active samples per category of each."""
    spies = {}
    for pid in pids:
        out = Path(out_dir) / f"{pid}.txt"
        cmd = [args.py_spy, "record", "--nonblocking", "--format", "raw", "-r", str(args.rate)]
        cmd += ["-d", str(args.seconds), "-p", str(pid), "-o", str(out)]
        spies[pid] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True), out)
    samples = {}
    for pid, (spy, out) in spies.items():
        _, err = spy.communicate(timeout=args.seconds + 60)
        if spy.returncode != 0 or not out.exists():
            sys.exit(f"error: py-spy failed on pid {pid}: {err.strip()[-300:]}")
        samples[pid] = parse_raw(out.read_text())
    return samples


def frames_trained(run_dir: str) -> int:
    """The frame count of the learner's newest progress line."""
    lines = [ln for ln in (Path(run_dir) / "learner.log").read_text().splitlines() if " frames " in ln]
    return int(lines[-1].split(" frames ")[1].split()[0].replace(",", "")) if lines else 0


def profile(args: argparse.Namespace, run_dir: str) -> dict:
    learner = start_learner(args, run_dir)
    try:
        time.sleep(args.warmup)
        if learner.poll() is not None:
            sys.exit(f"error: the learner exited ({learner.returncode}); see {run_dir}/learner.log")
        pids = [p for p in tree(learner.pid) if role(p, learner.pid) in ("learner", "actor")]
        before = {p: thread_ticks(p) for p in pids}
        frames0, t0 = frames_trained(run_dir), time.monotonic()
        samples = record(pids, args, run_dir)
        seconds = time.monotonic() - t0
        frames1 = frames_trained(run_dir)
        after = {p: thread_ticks(p) for p in pids}
    finally:
        os.killpg(learner.pid, signal.SIGTERM)
        learner.wait(timeout=120)
    procs = {}
    for p in pids:
        kind = "learner" if p == learner.pid else "actor"
        cpu = cpu_split(p, before[p], after[p])
        procs[f"{kind} {p}"] = breakdown(kind, cpu, samples[p], args.rate, seconds)
    return {"frames_per_s": round((frames1 - frames0) / seconds), "seconds": round(seconds, 1), "processes": procs}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/pong_a3c.yaml")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--warmup", type=float, default=90.0, help="seconds before the window (start-up, compiling)")
    ap.add_argument("--seconds", type=int, default=30, help="length of the measured window")
    ap.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "profile_split.json"))
    args = ap.parse_args()
    args.py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.path.exists(args.py_spy):
        ap.error("py-spy is not installed (pip install py-spy)")
    return args


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="profile_split-") as run_dir:
        result = {"config": args.config, "overrides": args.overrides, "actors": args.actors, "cpu": cpu_model()}
        result |= profile(args, run_dir)
    for name, proc in result["processes"].items():
        print(f"{name}: {proc['cpu_cores']} cores, main thread waiting {proc['main_thread_waiting']:.0%}")
        for heading, share in proc["share_of_cpu"].items():
            print(f"    {share:6.1%}  {heading}")
    print(f"trained {result['frames_per_s']:,} frames/s in the window ({result['seconds']} s)")
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
