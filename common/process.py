"""Process plumbing, in one place: every process the project starts goes through here.

- `spawn`: start a child by the dotted name of its entry function, always with `spawn`. Naming the
  target as a string lets the learner start actors without importing the `actor` package (actor
  and learner never import each other), and lets the child set its environment (XLA threads,
  Keras backend) before JAX is imported.
- `guarded_entry`: a child's entry point; a crash prints one traceback and exits non-zero.
- `stop_processes`: join children until a deadline, then terminate, then kill.
- `catch_stop_signals`: SIGTERM / Ctrl-C handlers that only record why to stop.
- `derive_seed`: the seed of every role's process, from the run's seed.
- `StopFlag`, `parent_alive`: how a child learns that it should stop.
- `get_logger`: `logging` with the one line format, `[role pid] text`.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

# Meant to keep each process's XLA and OpenMP work on one thread. XLA's CPU client (jax 0.10) still
# sizes its pool by the CPUs the process may use and splits a program over it; a one-thread pool
# trained no more frames/s on 2 cores (benchmarks/RESULTS.md, 2026-12-07), so the pool is left as XLA makes it.
SINGLE_THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
    "OMP_NUM_THREADS": "1",
    "KERAS_BACKEND": "jax",
    "JAX_PLATFORMS": "cpu",
}


def act_inline() -> None:
    """Run this process's XLA computations on the calling thread (call before its first JAX computation).

    An actor waits for every policy call's result at once, so JAX's asynchronous dispatch only
    adds a hand-off to XLA's worker thread and back; with more processes than cores, each
    hand-off waits for the scheduler (CartPole A3C's actors spend most of their time in the policy
    call; figures in `benchmarks/RESULTS.md`). The learner keeps asynchronous dispatch: it overlaps
    its batching and publishing with the train step that way.
    """
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)


def default_compile_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "asyncrl", "jax")


def enable_compile_cache() -> None:
    """Share compiled XLA programs between the learner, its actors and later runs (call before importing JAX).

    Without it every actor process compiles the same model initialisers and policy step
    again (about 3 CPU-seconds each, most of an actor's start-up); with it, those and the
    train step are read back from disk. Children inherit the setting through the
    environment. `JAX_COMPILATION_CACHE_DIR` set by the user wins; set it empty to disable.
    """
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        path = default_compile_cache_dir()
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            return  # e.g. a read-only home: run without the cache
        if not os.access(path, os.W_OK):
            return
        os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    if os.environ["JAX_COMPILATION_CACHE_DIR"]:
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # small programs add up too
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


def context():
    return mp.get_context("spawn")  # JAX deadlocks after fork


def _child_main(target: str, env: dict, args: tuple) -> None:
    os.environ.update(env)
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    func(*args)


def spawn(target: str, args: tuple, env: dict | None = None, name: str | None = None):
    """Start `module:function(*args)` in a new spawned process and return it."""
    proc = context().Process(target=_child_main, args=(target, dict(env or {}), args), name=name, daemon=True)
    # Ctrl-C goes to the whole process group; children inherit "ignore" across exec so a
    # starting actor never dies of it mid-import. The parent coordinates shutdown.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        proc.start()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    return proc


def guarded_entry(role: str, func: Callable, *args, quiet: tuple = (KeyboardInterrupt,)) -> None:
    """Run `func(*args)` as a child's main function.

    Its int return value is the exit code (None: 0). An exception in `quiet` ends the child with 0;
    any other prints one traceback under `role` and exits 1. A non-zero code leaves through
    `os._exit`, so no atexit hook (a stuck queue feeder, JAX) can hang the exit.
    """
    try:
        code = func(*args) or 0
    except quiet:
        code = 0
    except Exception:
        get_logger(role).error(f"crashed:\n{traceback.format_exc().rstrip()}")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    if code:
        os._exit(code)


def stop_processes(procs: list, deadline_s: float = 10.0, grace_s: float = 2.0) -> None:
    """Join `procs` (already asked to stop) for up to `deadline_s` in all, then terminate them all and
    wait up to `grace_s` in all, then kill the rest (a stopped or hung process too). Bounded whatever
    they do: at most deadline_s + 2 grace_s, however many there are."""
    live = [p for p in procs if p is not None]
    _join_all(live, deadline_s)
    for action in ("terminate", "kill"):
        stragglers = [p for p in live if p.is_alive()]
        for p in stragglers:
            getattr(p, action)()
        _join_all(stragglers, grace_s)


def _join_all(procs: list, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for p in procs:
        p.join(timeout=max(deadline - time.monotonic(), 0.01))


class Heartbeat:
    """A time a child process writes to show it is not hung, read by its parent. Lock-free (a RawValue),
    on the system-wide monotonic clock, so parent and child compare the same seconds."""

    def __init__(self, ctx):
        self._raw = ctx.RawValue("d", time.monotonic())

    def beat(self) -> None:
        self._raw.value = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self._raw.value


DEFAULT_HANDLERS: dict[int, Any] = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def catch_stop_signals(
    on_stop: Callable[[str], None], interrupt: bool = True, sigterm: bool = True
) -> Callable[[], None]:
    """Call `on_stop("SIGTERM")` / `on_stop("Ctrl-C")` on those signals; returns a function restoring
    the previous handlers. interrupt=False ignores Ctrl-C instead (children: it reaches the whole
    process group, and the parent decides). sigterm=False leaves SIGTERM as it is. Main thread only."""
    handlers: dict[int, Any] = {
        signal.SIGINT: (lambda signum, frame: on_stop("Ctrl-C")) if interrupt else signal.SIG_IGN
    }
    if sigterm:
        handlers[signal.SIGTERM] = lambda signum, frame: on_stop("SIGTERM")
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    def restore() -> None:
        for signum, handler in previous.items():  # a handler set from C reads back as None: the default then
            signal.signal(signum, handler if handler is not None else DEFAULT_HANDLERS[signum])

    return restore


# Seeds stay below 2**31 minus room for the env index added to them: ALE and Keras take 32-bit seeds.
SEED_MODULUS = 2**31 - 2**16
_ROLE_OFFSET = {"actor": 0, "remote": 500_009, "eval": 999_983}  # local actors, remote actors, evaluation
_INDEX_STRIDE = {"actor": 10_007, "remote": 7_919, "eval": 0}


def derive_seed(run_seed: int, role: str, index: int = 0, incarnation: int = 0) -> int:
    """The seed of one process of `role`: distinct and reproducible per (run seed, role, index, incarnation).

    role: "actor" (index: actor id, incarnation: its restarts, past the resumed run's base),
    "remote" (index: the connection's number), "eval" (one per run). The envs of a process
    count up from its seed, and no two processes of a run share an env seed (tests/test_process.py).
    """
    seed = run_seed * 1_000_003 + _ROLE_OFFSET[role] + index * _INDEX_STRIDE[role] + incarnation * 101
    return seed % SEED_MODULUS


class StopFlag:
    """A cross-process boolean read without any lock (a `multiprocessing.Event` takes a
    shared lock in `is_set`; an actor killed while holding it would block the learner)."""

    def __init__(self, ctx):
        self._raw = ctx.RawValue("b", 0)

    def set(self) -> None:
        self._raw.value = 1

    def is_set(self) -> bool:
        return bool(self._raw.value)


def parent_alive(parent_pid: int) -> bool:
    """False once the process that spawned us is gone (we were re-parented)."""
    return os.getppid() == parent_pid


class _StdHandler(logging.Handler):
    """INFO to the current sys.stdout, WARNING and above to sys.stderr (looked up at each line, so a
    test's captured streams are honoured), flushed at once: children's lines interleave with the learner's."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed pipe at shutdown
            pass


class _RoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.role = record.name.removeprefix("asyncrl.")
        return super().format(record)


def get_logger(role: str) -> logging.Logger:
    """The logger of a process role ("learner", "actor 3", "remote actor 0", "eval actor"): lines read
    `[role pid] text`."""
    root = logging.getLogger("asyncrl")
    if not root.handlers:
        handler = _StdHandler()
        handler.setFormatter(_RoleFormatter("[%(role)s %(process)d] %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return logging.getLogger(f"asyncrl.{role}")
