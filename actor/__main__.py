"""Remote actors: `python -m actor --learner HOST:PORT [--processes N]`.

Starts N actor processes that feed a learner over TCP (the learner runs with
`remote.enabled: true`); ASYNCRL_AUTHKEY must hold the learner's shared secret.
Each process retries until the learner is reachable and reconnects if it restarts.
SIGTERM or Ctrl-C stops them all (exit 0 / 130).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

from common.process import enable_compile_cache
from common.shell import command, command_name

enable_compile_cache()

ENTRY = "actor.remote:main_entry"
# An acting process stops within one poll of the stop flag (0.5 s); one still importing JAX or compiling
# does not look at it for seconds, and an unsent unroll is lost either way: terminated after this.
STOP_DEADLINE_S = 2.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=command_name("actor"), description="Run remote actors for a learner on another host."
    )
    p.add_argument(
        "--learner", required=True, metavar="HOST:PORT", help="the learner's remote.host:remote.port, e.g. learner:7777"
    )
    p.add_argument("--processes", type=int, default=1, metavar="N", help="actor processes to run (default 1)")
    return p.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    from common.config import ConfigError
    from common.process import SINGLE_THREAD_ENV, StopFlag, catch_stop_signals, context, spawn, stop_processes
    from common.transport.wire import authkey_from_env, parse_address

    try:
        host, port = parse_address(args.learner)
        authkey = authkey_from_env()
        if args.processes < 1:
            raise ConfigError(f"--processes: must be >= 1, got {args.processes}")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    reason: list[str] = []  # set by a signal: why we stop
    catch_stop_signals(reason.append)
    stop = StopFlag(context())
    procs = [
        spawn(ENTRY, (i, host, port, authkey, stop, os.getpid()), env=SINGLE_THREAD_ENV, name=f"remote-actor-{i}")
        for i in range(args.processes)
    ]
    code = 0
    while not reason and all(p.is_alive() for p in procs):
        time.sleep(0.2)
    for p in procs:
        if not reason and not p.is_alive() and p.exitcode:
            code = p.exitcode  # a process gave up (wrong authkey) or crashed: stop the rest too
            break
    stop.set()
    stop_processes(procs, deadline_s=STOP_DEADLINE_S)
    return 130 if reason[:1] == ["Ctrl-C"] else code


if __name__ == "__main__":
    sys.exit(main())
