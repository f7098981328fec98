"""How a command meets the shell: its name, a closed pipe, Ctrl-C while it starts.

Every command (`python -m learner`, `asyncrl-train`, ...) decorates its `main(argv=None) -> int` with
`command`, and names itself with `command_name` in its usage line:

- a reader that goes away (`--help-config | head`) ends the command quietly with 141 (128 + SIGPIPE,
  as a shell tool killed by SIGPIPE), not with a BrokenPipeError traceback;
- Ctrl-C before the command handles it itself (while JAX and Keras import, seconds) prints one line
  and exits 130 at once, rather than a KeyboardInterrupt traceback from inside an import;
- work a stop request left running in a thread (`abandon`: an XLA compile) does not hold up the exit.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable

_abandoned: list[threading.Thread] = []  # see `abandon`

SCRIPT_PREFIX = "asyncrl-"  # the console scripts of pyproject.toml
SIGPIPE_EXIT = 141
INTERRUPTED_EXIT = 130


def command_name(module: str) -> str:
    """The command as the user typed it: the console script's name (`asyncrl-train`) when run as one,
    else `python -m <module>`."""
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script if script.startswith(SCRIPT_PREFIX) else f"python -m {module}"


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe, or a write the main thread is inside ("reentrant call"): go on
            pass


def _exit_interrupted(signum, frame) -> None:
    """Print one line and leave, whatever the streams do: this handler can run while the main thread is
    inside a write to them, where Python's buffered streams raise RuntimeError."""
    _flush_quietly()
    try:
        os.write(2, b"interrupted\n")  # the file descriptor itself: no buffer, no lock to find taken
    except OSError:
        pass
    os._exit(INTERRUPTED_EXIT)  # nothing started yet to clean up, and no import left half-done to unwind


def exit_on_ctrl_c() -> Callable[[], None]:
    """Until the command installs its own handling: Ctrl-C prints "interrupted" and exits 130 at once.

    Only where Ctrl-C would raise KeyboardInterrupt (the main thread, with Python's default handler): a
    process started with SIGINT ignored (a background job, a child) keeps ignoring it. Returns a function
    putting the previous handler back.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return lambda: None  # ignored, already ours, or the command's own
    signal.signal(signal.SIGINT, _exit_interrupted)

    def restore() -> None:
        if signal.getsignal(signal.SIGINT) is _exit_interrupted:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    return restore


def abandon(thread: threading.Thread) -> None:
    """Stop waiting for a daemon `thread` whose work cannot be interrupted (an XLA compile) and is no longer
    needed. A command that ends while it still runs leaves with `os._exit` once its own work is done:
    finalizing the interpreter (and C++ static objects) under a thread still inside a library could crash
    it, and waiting for the thread is what a stop request must not do."""
    _abandoned.append(thread)


def _exit_now(code: int) -> None:
    _flush_quietly()
    os._exit(code)


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a test's captured stdout has no file descriptor
        pass


def command(main: Callable[..., int | None]) -> Callable[..., int]:
    """Decorate a command's `main(argv=None)`: Ctrl-C exits quietly until main installs its own handling
    (`exit_on_ctrl_c`), a closed stdout returns 141, a KeyboardInterrupt main lets through returns 130.

    Called as the command (no argv), the Ctrl-C guard stays to the end of the process, its exit hooks
    included, and an `abandon`ed thread still running makes it leave at once with main's code; called
    with argv (from Python, a test), the previous handler is back on return and nothing exits.
    """

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        restore = exit_on_ctrl_c()
        try:
            code = _outcome(main, argv)
        finally:
            if argv is not None:
                restore()
        if argv is None and any(thread.is_alive() for thread in _abandoned):
            _exit_now(code)
        return code

    return run


def _outcome(main: Callable[..., int | None], argv: list[str] | None) -> int:
    """main's exit code, 141 for a closed stdout, 130 for a KeyboardInterrupt."""
    try:
        try:
            code = main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
    except BrokenPipeError:
        _drop_stdout()
        return SIGPIPE_EXIT
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    return code or 0
