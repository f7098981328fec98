"""A long training run under faults: does memory stay flat and the frame count only grow?

    python benchmarks/soak.py --minutes 30 [--config configs/smoke_cartpole.yaml] [--seed 0]

A learner trains (2 local actors; remote actors welcome on a free port). Every 15-45 s (drawn
from `--seed`) one fault, in turn: kill -9 a local actor; SIGSTOP a local actor (the learner
must kill and replace it after `actor.hung_timeout_s`, here 15 s); start a remote actor
process; kill -9 or SIGTERM a remote actor. At half time the learner gets SIGTERM and is
started again with `--resume`. Every 5 s the resident memory (VmRSS) of every process is read.

Verdict, printed and written as JSON (`--json`):
- per role (learner, local actor, remote actor), the largest RSS in the minute after `--from`
  minutes against the last minute: at most 5% growth;
- each process alive over that whole span: at most 5% growth;
- metrics.csv's frame count never falls, and it grew after every fault.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import proctree  # noqa: E402
from benchmarks.proctree import children, status_kib, tree  # noqa: E402

AUTHKEY = "soak-secret"
MAX_GROWTH = 0.05


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_learner(config: str, run_dir: str, port: int, resume: bool) -> subprocess.Popen:
    where = ["--resume", os.path.join(run_dir, "soak")] if resume else ["--config", config, "--run-dir", run_dir]
    where += [] if resume else ["--name", "soak"]
    sets = ["remote.enabled=true", f"remote.port={port}", "actor.hung_timeout_s=15", "learner.eval_interval=0"]
    cmd = [sys.executable, "-m", "learner", *where, "--actors", "2", "--total-frames", "10000000000"]
    cmd += [x for kv in sets for x in ("--set", kv)]
    with open(os.path.join(run_dir, "learner.log"), "a") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


def start_remote(run_dir: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "actor", "--learner", f"127.0.0.1:{port}"]
    with open(os.path.join(run_dir, "remote.log"), "a") as log:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


def _env() -> dict:
    return dict(os.environ, ASYNCRL_AUTHKEY=AUTHKEY, PYTHONUNBUFFERED="1")


def local_actors(learner: subprocess.Popen) -> list[int]:
    return [p for p in children(learner.pid) if proctree.role(p, learner.pid) == "actor"]


def frames(run_dir: str) -> list[int]:
    """charts/frames of every complete metrics.csv row so far (a row being written is skipped)."""
    out = []
    try:
        with open(os.path.join(run_dir, "soak", "metrics.csv"), newline="") as fh:
            for r in csv.DictReader(fh):
                try:
                    out.append(int(float(r["charts/frames"])))
                except (KeyError, TypeError, ValueError):
                    continue
    except OSError:
        pass
    return out


# ---------------------------------------------------------------- faults


def fault(kind: str, learner, remotes: list, run_dir: str, port: int) -> str:
    """Does one fault; returns what it did, in words."""
    if kind in ("kill actor", "stop actor"):
        actors = local_actors(learner)
        if not actors:
            return f"{kind}: no local actor alive"
        pid = random.choice(actors)
        os.kill(pid, signal.SIGKILL if kind == "kill actor" else signal.SIGSTOP)
        return f"{kind} {pid}"
    if kind == "start remote" or not remotes:
        remotes.append(start_remote(run_dir, port))
        return f"start remote {remotes[-1].pid}"
    victim = remotes[random.randrange(len(remotes))]
    sig = random.choice([signal.SIGKILL, signal.SIGTERM])
    os.killpg(victim.pid, sig)  # the remote actor's main process and its actor process
    try:
        victim.wait(timeout=30)
        remotes.remove(victim)
    except subprocess.TimeoutExpired:  # still listed: stopped at the end
        pass
    return f"{signal.Signals(sig).name} remote {victim.pid}"


FAULTS = ["kill actor", "stop actor", "start remote", "end remote"]


# ---------------------------------------------------------------- memory


def sample(learner, remotes: list, t_min: float, samples: list) -> None:
    """One reading: (minute, role, pid, RSS KiB) for every live process of the run."""
    roles = {learner.pid: "learner", **{p: "local actor" for p in local_actors(learner)}}
    for r in remotes:
        roles.update({p: "remote actor" for p in tree(r.pid)})
    for pid, role in roles.items():
        rss = status_kib(pid, "VmRSS")
        if rss:
            samples.append((t_min, role, pid, rss))


def growth(samples: list, start: float, end: float) -> dict:
    """Per role and per long-lived process: RSS in the minute after `start` against the minute before `end`.
    A process's readings in its first minute (imports, compiles) are left out of the early minute."""
    born: dict[int, float] = {}
    for t, _, pid, _ in samples:
        born.setdefault(pid, t)
    early = [s for s in samples if start <= s[0] < start + 1 and s[0] >= born[s[2]] + 1]
    late = [s for s in samples if end - 1 <= s[0] <= end]
    out = {"roles": {}, "processes": {}}
    for role in sorted({s[1] for s in samples}):
        a = max((s[3] for s in early if s[1] == role), default=0)
        b = max((s[3] for s in late if s[1] == role), default=0)
        if a and b:
            out["roles"][role] = {"early_mib": round(a / 1024, 1), "late_mib": round(b / 1024, 1), "growth": b / a - 1}
    for pid in {s[2] for s in early} & {s[2] for s in late}:
        a = max(s[3] for s in early if s[2] == pid)
        b = max(s[3] for s in late if s[2] == pid)
        role = next(s[1] for s in early if s[2] == pid)
        out["processes"][str(pid)] = {"role": role, "early_mib": round(a / 1024, 1), "late_mib": round(b / 1024, 1),
                                      "growth": b / a - 1}  # fmt: skip
    return out


# ---------------------------------------------------------------- the run


def soak(config: str, minutes: float, start_min: float, seed: int, run_dir: str) -> dict:
    random.seed(seed)
    port = free_port()
    learner = start_learner(config, run_dir, port, resume=False)
    remotes: list = []
    samples: list = []  # (minute, role, pid, RSS KiB)
    events: list = []  # [minute, what, frames before, frames at the next event]
    series: list = []  # (minute, newest frame count), every 5 s
    t0 = time.monotonic()
    next_fault = t0 + random.uniform(15, 45)
    restarted = False
    try:
        while (now := time.monotonic()) - t0 < minutes * 60:
            t_min = (now - t0) / 60
            if learner.poll() is not None:
                raise RuntimeError(f"the learner exited by itself (code {learner.returncode}) at minute {t_min:.1f}")
            sample(learner, remotes, t_min, samples)
            series.append((t_min, _last(frames(run_dir))))
            if not restarted and t_min >= minutes / 2:
                _event(events, t_min, "learner SIGTERM, then --resume", series[-1][1])
                learner.send_signal(signal.SIGTERM)
                learner.wait(timeout=120)
                learner, restarted = start_learner(config, run_dir, port, resume=True), True
            elif now >= next_fault:
                kind = FAULTS[len(events) % len(FAULTS)]
                _event(events, t_min, fault(kind, learner, remotes, run_dir, port), series[-1][1])
                next_fault = now + random.uniform(15, 45)
            time.sleep(5)
        _event(events, minutes, None, _last(frames(run_dir)))
    finally:
        for r in remotes:
            _stop(r)
        _stop(learner)
    return verdict(samples, events, series, start_min, minutes)


def _event(events: list, t_min: float, what: str | None, frames_now: int) -> None:
    """Closes the last event with the frames reached since, and opens a new one (what None: the end)."""
    if events:
        events[-1][3] = frames_now
    if what is not None:
        events.append([t_min, what, frames_now, None])


def _last(xs: list) -> int:
    return xs[-1] if xs else 0


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def verdict(samples: list, events: list, series: list, start_min: float, minutes: float) -> dict:
    g = growth(samples, start_min, minutes)
    seen = [f for _, f in series]
    never_falls = all(b >= a for a, b in zip(seen, seen[1:]))  # across the restart too: SIGTERM checkpoints
    grew_after_every_fault = all(after is not None and after > before for _, _, before, after in events)
    growths = [v["growth"] for v in g["roles"].values()] + [v["growth"] for v in g["processes"].values()]
    worst = max(growths, default=float("nan"))
    return {
        "minutes": minutes,
        "window": [start_min, minutes],
        "events": [{"minute": round(m, 2), "what": w, "frames_before": b, "frames_next": a} for m, w, b, a in events],
        "frames_final": _last(seen),
        "frames_never_fall": never_falls,
        "frames_grew_after_every_fault": grew_after_every_fault,
        "memory": g,
        "worst_growth": worst,
        "passed": never_falls and grew_after_every_fault and worst <= MAX_GROWTH,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/smoke_cartpole.yaml")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--from", dest="start_min", type=float, default=5.0, help="minute the memory baseline is read at")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", help="run folder to keep (default: a temporary one)")
    p.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "soak.json"))
    args = p.parse_args()
    if args.minutes < args.start_min + 2:
        p.error(f"--minutes must be at least --from + 2 (a baseline minute and a last minute), got {args.minutes}")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = soak(args.config, args.minutes, args.start_min, args.seed, args.keep or tmp)
    for e in result["events"]:
        print(f"minute {e['minute']:6.2f}: {e['what']} (frames {e['frames_before']:,} -> {e['frames_next']:,})")
    for role, v in result["memory"]["roles"].items():
        print(f"{role:>13}: {v['early_mib']:8.1f} MiB -> {v['late_mib']:8.1f} MiB ({100 * v['growth']:+.1f}%)")
    worst = 100 * result["worst_growth"]
    print(f"long-lived processes: {len(result['memory']['processes'])}, worst growth {worst:+.1f}%")
    print(f"frames: {result['frames_final']:,}, never fall: {result['frames_never_fall']}, "
          f"grew after every fault: {result['frames_grew_after_every_fault']}; passed: {result['passed']}")  # fmt: skip
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
