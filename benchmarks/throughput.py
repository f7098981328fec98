"""How close does training get to this machine's limit? Env-only speed vs frames/s trained end to end.

    python benchmarks/throughput.py --env ALE/Pong-v5 --actors 1 2 4 --seconds 60

1. Env-only limit: ale-py's AtariVectorEnv with the config's preprocessing (our
   `common.env` wrapper, reward clipping and episode accounting included),
   stepping random actions with one ALE thread per core.
2. For each actor count: `python -m learner` on the config for `--seconds`, then
   SIGTERM. Read from its metrics.csv over the steady window (rows after
   `--warmup` seconds of training): frames/s trained (only experience the
   learner trained on, each unroll once), updates/s, policy lag (mean, max),
   queue fill; from its summary: launch -> first update. While it runs, the
   process tree is sampled every 0.5 s for memory: peak RSS of each process
   (VmHWM), and the peak of the tree's summed RSS and summed PSS (RSS counts
   shared pages, e.g. the JAX library, once per process; PSS splits them).
3. The ratio of (2) to (1).

Prints a table and writes JSON (`--json`, default benchmarks/throughput.json).
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
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")

from benchmarks.proctree import pss_kib, role, status_kib, tree  # noqa: E402


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------- 1. env-only limit


def env_only(config: str, env_id: str | None, seconds: float, envs_per_core: int) -> dict:
    """Agent steps/s and frames/s of the config's env alone, random actions, `envs_per_core` envs per core."""
    import numpy as np

    from common import config as config_lib
    from common.env import AtariEnv, is_atari, make_env

    overrides = {"env.id": env_id} if env_id else {}
    cfg = config_lib.load(os.path.join(ROOT, config), overrides)
    cores = os.cpu_count() or 1
    num_envs = envs_per_core * cores
    atari = is_atari(cfg.env.id)  # ALE steps its envs on `cores` threads; other envs step on this one
    env = AtariEnv(cfg.env, num_envs, seed=0, num_threads=cores) if atari else make_env(cfg.env, num_envs, seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    actions = rng.integers(0, env.spec.num_actions, size=(1024, num_envs)).astype(np.int32)
    for i in range(50):  # warm-up: first resets, caches
        env.step(actions[i % 1024])
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        env.step(actions[steps % 1024])
        steps += 1
    dt = time.perf_counter() - t0
    env.close()
    agent_steps = steps * num_envs / dt
    return {
        "env": cfg.env.id,
        "num_envs": num_envs,
        "ale_threads": cores if atari else 0,
        "agent_steps_per_s": round(agent_steps, 1),
        "frames_per_s": round(agent_steps * env.spec.frames_per_step, 1),
    }


# ---------------------------------------------------------------- 2. end to end


class MemorySampler:
    """Polls a process tree: peak RSS (VmHWM) per process, peak summed RSS and PSS of the tree."""

    def __init__(self, root: int):
        self.root = root
        self.peak_rss_kib: dict[int, int] = {}
        self.roles: dict[int, str] = {}
        self.tree_rss_peak_kib = 0
        self.tree_pss_peak_kib = 0

    def sample(self) -> None:
        rss_sum = pss_sum = 0
        for pid in tree(self.root):
            rss = status_kib(pid, "VmRSS")
            if rss == 0:
                continue
            rss_sum += rss
            pss_sum += pss_kib(pid)
            self.roles.setdefault(pid, role(pid, self.root))
            self.peak_rss_kib[pid] = max(self.peak_rss_kib.get(pid, 0), status_kib(pid, "VmHWM"))
        self.tree_rss_peak_kib = max(self.tree_rss_peak_kib, rss_sum)
        self.tree_pss_peak_kib = max(self.tree_pss_peak_kib, pss_sum)

    def per_process_mib(self) -> list[dict]:
        return [
            {"pid": pid, "role": self.roles[pid], "peak_rss_mib": round(kib / 1024, 1)}
            for pid, kib in sorted(self.peak_rss_kib.items())
            if self.roles[pid] != "gone"
        ]


def end_to_end(
    config: str,
    env_id: str | None,
    actors: int,
    seconds: float,
    warmup: float,
    overrides: list[str],
    log_every: float,
    cold_cache: bool,
) -> dict:
    """Train for `seconds` in a temporary run dir; the steady-state figures after `warmup` seconds."""
    with tempfile.TemporaryDirectory() as run_dir:
        env = dict(os.environ)
        if cold_cache:  # an empty XLA compile cache: what the very first run on a machine sees
            env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(run_dir, "jax-cache")
        cmd = _learner_command(config, env_id, actors, run_dir, overrides, log_every)
        launched, sampler = _run_learner_for(cmd, env, os.path.join(run_dir, "stdout.log"), seconds)
        with open(os.path.join(run_dir, "bench", "metrics.csv")) as fh:
            rows = list(csv.DictReader(fh))
        with open(os.path.join(run_dir, "bench", "summary.json")) as fh:
            summary = json.load(fh)
    return _steady_figures(rows, summary, warmup, actors, launched, sampler)


def _learner_command(
    config: str, env_id: str | None, actors: int, run_dir: str, overrides: list[str], log_every: float
) -> list[str]:
    cmd = [sys.executable, "-m", "learner", "--config", config, "--actors", str(actors)]
    cmd += ["--run-dir", run_dir, "--name", "bench", "--set", f"run.log_interval_seconds={log_every}"]
    if env_id:
        cmd += ["--env", env_id]
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def _run_learner_for(cmd: list[str], env: dict, log_path: str, seconds: float) -> tuple[float, MemorySampler]:
    """Runs the learner, sampling its memory, and stops it with SIGTERM after `seconds`; (launch time, sampler)."""
    with open(log_path, "w") as log:
        launched = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        sampler = MemorySampler(proc.pid)
        while proc.poll() is None and time.time() - launched < seconds:
            sampler.sample()
            time.sleep(0.5)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise SystemExit(
                f"error: the learner did not stop within 120 s of SIGTERM; log:\n{Path(log_path).read_text()}"
            ) from None
    if proc.returncode != 0:
        raise SystemExit(f"error: the learner exited with {proc.returncode}; log:\n{Path(log_path).read_text()}")
    return launched, sampler


def _steady_figures(
    rows: list[dict], summary: dict, warmup: float, actors: int, launched: float, sampler: MemorySampler
) -> dict:
    f = lambda r, k: float(r[k])  # noqa: E731
    steady = [r for r in rows if f(r, "time/elapsed_s") >= warmup]
    if len(steady) < 2:
        raise SystemExit(f"error: fewer than 2 metric rows after {warmup}s of warm-up; run longer (--seconds)")
    first, last = steady[0], steady[-1]
    dt = f(last, "time/elapsed_s") - f(first, "time/elapsed_s")
    fps = (f(last, "charts/frames") - f(first, "charts/frames")) / dt
    ups = (f(last, "charts/updates") - f(first, "charts/updates")) / dt
    first_update = summary["first_update_seconds"]
    per_proc = sampler.per_process_mib()
    return {
        "actors": actors,
        "steady_window_s": round(dt, 1),
        "frames_per_s": round(fps, 1),
        "agent_steps_per_s": None,  # filled in by main (needs frames per step)
        "updates_per_s": round(ups, 2),
        "policy_lag_mean": round(sum(f(r, "actor/policy_lag_mean") for r in steady) / len(steady), 2),
        "policy_lag_max": int(max(f(r, "actor/policy_lag_max") for r in steady)),
        "queue_fill": round(sum(f(r, "learner/queue_size") for r in steady) / len(steady), 2),
        "queue_capacity": int(f(last, "learner/queue_capacity")),
        "launch_to_first_update_s": (
            round(summary["started_unix"] + first_update - launched, 1)
            if first_update is not None and "started_unix" in summary
            else None
        ),
        "frames_trained": summary["frames"],
        "peak_rss_mib": {
            "learner": max((p["peak_rss_mib"] for p in per_proc if p["role"] == "learner"), default=0.0),
            "actor_max": max((p["peak_rss_mib"] for p in per_proc if p["role"] == "actor"), default=0.0),
            "tree_rss_sum": round(sampler.tree_rss_peak_kib / 1024, 1),
            "tree_pss_sum": round(sampler.tree_pss_peak_kib / 1024, 1),
        },
        "processes": per_proc,
    }


# ---------------------------------------------------------------- report


def table(result: dict) -> str:
    env = result["env_only"]
    lines = [
        f"machine: {result['machine']['cores']} cores, {result['machine']['cpu']}; {result['date']}; "
        f"XLA compile cache: {result['compile_cache']}",
        f"env-only limit ({env['env']}, {env['num_envs']} envs, {env['ale_threads']} ALE threads): "
        f"{env['agent_steps_per_s']:,.0f} agent steps/s = {env['frames_per_s']:,.0f} frames/s",
        "",
        "| actors | frames/s trained | agent steps/s | ratio to env-only | updates/s | policy lag mean/max "
        "| queue fill | launch to 1st update | peak RSS learner / actor (MiB) | tree peak RSS / PSS (MiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["runs"]:
        m = r["peak_rss_mib"]
        lines.append(
            f"| {r['actors']} | {r['frames_per_s']:,.0f} | {r['agent_steps_per_s']:,.0f} "
            f"| {r['ratio_to_env_only']:.2f} "
            f"| {r['updates_per_s']:.2f} | {r['policy_lag_mean']:.1f} / {r['policy_lag_max']} "
            f"| {r['queue_fill']:.1f}/{r['queue_capacity']} | {r['launch_to_first_update_s']} s "
            f"| {m['learner']:,.0f} / {m['actor_max']:,.0f} | {m['tree_rss_sum']:,.0f} / {m['tree_pss_sum']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/pong_a3c.yaml")
    p.add_argument("--env", help="env id override, e.g. ALE/Pong-v5 (default: the config's)")
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=60.0, help="wall-clock seconds per run, launch to SIGTERM")
    p.add_argument("--warmup", type=float, default=15.0, help="seconds of training left out of the steady window")
    p.add_argument("--env-seconds", type=float, default=15.0, help="seconds of env-only stepping")
    p.add_argument("--envs-per-core", type=int, default=8, help="envs in the env-only run, per core")
    p.add_argument("--log-every", type=float, default=2.0, help="learner metrics interval (s)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override passed to every training run (repeatable)",
    )
    p.add_argument(
        "--cold-cache",
        action="store_true",
        help="give each training run an empty XLA compile cache (first-run start-up times)",
    )
    p.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "throughput.json"))
    args = p.parse_args()
    if args.warmup + 2 * args.log_every >= args.seconds:
        p.error("--seconds must leave a steady window after --warmup")

    print(f"[throughput] env-only for {args.env_seconds:.0f}s ...", flush=True)
    env = env_only(args.config, args.env, args.env_seconds, args.envs_per_core)
    frames_per_step = env["frames_per_s"] / env["agent_steps_per_s"]
    runs = []
    for n in args.actors:
        print(f"[throughput] training with {n} actor(s) for {args.seconds:.0f}s ...", flush=True)
        r = end_to_end(
            args.config, args.env, n, args.seconds, args.warmup, args.overrides, args.log_every, args.cold_cache
        )
        r["agent_steps_per_s"] = round(r["frames_per_s"] / frames_per_step, 1)
        r["ratio_to_env_only"] = round(r["frames_per_s"] / env["frames_per_s"], 3)
        runs.append(r)
    result = {
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "config": args.config,
        "overrides": args.overrides,
        "compile_cache": "cold (empty per run)" if args.cold_cache else "as the user has it (warm after the first run)",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cores": os.cpu_count(), "cpu": cpu_model()},
        "env_only": env,
        "runs": runs,
    }
    print(table(result))
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"[throughput] wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
