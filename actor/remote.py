"""One remote actor process: connect to the learner over TCP, run the actor loop, reconnect when it goes.

The run's config, this actor's id and seed, the unroll layout and the weight shapes
all come from the learner at each connection, so a remote actor needs no config
file and follows a learner restarted with another experiment.
"""

from __future__ import annotations

import sys
import time
from multiprocessing import AuthenticationError

from actor.loop import run_actor
from common.process import catch_stop_signals, get_logger, guarded_entry, parent_alive
from common.transport.client import LearnerLost, LearnerRefused, RemoteBoard, RemoteEnd, connect

RETRY_S = 1.0  # between connection attempts while the learner is unreachable
EXIT_AUTH = 2  # the learner refused our authkey: retrying cannot help


def run_remote(index: int, host: str, port: int, authkey: bytes, stop_flag, parent_pid: int) -> int:
    """Serve the learner at host:port until stopped (SIGTERM, stop flag, or our parent gone); exit code."""
    stop_reasons: list[str] = []
    log = get_logger(f"remote actor {index}")

    def should_stop() -> bool:
        return bool(stop_reasons) or stop_flag.is_set() or not parent_alive(parent_pid)

    waiting_said = False
    while not should_stop():
        catch_stop_signals(stop_reasons.append, interrupt=False)  # run_actor installs its own while it runs
        try:
            link = connect(host, port, authkey)
        except AuthenticationError:
            print(f"error: the learner at {host}:{port} refused our authkey (ASYNCRL_AUTHKEY differs)", file=sys.stderr)
            return EXIT_AUTH
        except (OSError, EOFError, LearnerLost, LearnerRefused) as exc:
            if not waiting_said:
                log.info(f"waiting for the learner at {host}:{port} ({exc or type(exc).__name__})")
                waiting_said = True
            deadline = time.monotonic() + RETRY_S
            while time.monotonic() < deadline and not should_stop():
                time.sleep(0.1)
            continue
        waiting_said = False
        log.info(f"connected to {host}:{port} as actor {link.actor_id}")
        try:
            run_actor(link.actor_id, link.config, RemoteEnd(link), RemoteBoard(link), stop_flag, link.seed, parent_pid)
            return 0  # run_actor returns only when asked to stop
        except LearnerLost as exc:
            log.info(f"lost the learner ({exc}); reconnecting")
        finally:
            link.close()
    return 0


def main_entry(*args):
    """Spawn target (`python -m actor`): exit with run_remote's code; a crash prints one traceback and exits 1."""
    guarded_entry(f"remote actor {args[0]}", run_remote, *args)
