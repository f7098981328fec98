"""Start a child process by the dotted name of its entry function, always with `spawn`.

Naming the target as a string lets the learner start actors without importing
the `actor` package (actor and learner never import each other), and lets the
child set its environment (XLA threads, Keras backend) before JAX is imported.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import signal
import threading

# XLA on one thread: an actor's batched policy call is small, and two cores
# shared by several actors and a learner are better used one thread each.
SINGLE_THREAD_ENV = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
    "OMP_NUM_THREADS": "1",
    "KERAS_BACKEND": "jax",
    "JAX_PLATFORMS": "cpu",
}


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
