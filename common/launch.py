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
