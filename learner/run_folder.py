"""Which folder a run writes to, and a lock so that only one learner writes there.

A new run never writes into a folder that holds another run: when `<run.dir>/<name>` is
taken it goes to the first free `<name>-2`, `<name>-3`, ... (as rl-zoo numbers its runs).
`overwrite` empties the folder first and says what it removes; `resume` continues the run
that is there. A folder "holds a run" when it has anything in it but the lock file.

The lock is an `fcntl.flock` on `<run>/.lock`, held by the learner process for its whole
life. The kernel drops it when the process dies, however it dies, so a crashed run never
leaves a stale lock; the file keeps the holder's pid for the error message.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass

LOCK_NAME = ".lock"
MAX_NUMBER = 10_000  # <name>-2 ... <name>-9999: enough runs of one name for anyone


class RunFolderError(RuntimeError):
    """The run folder cannot be used; one line for the user."""


@dataclass
class RunLock:
    """An exclusive flock on `<run>/.lock`; `release` (or the process's end) lets go."""

    path: str
    fd: int

    @classmethod
    def try_acquire(cls, run_path: str) -> RunLock | None:
        """The lock, or None if another process holds it."""
        fd = os.open(os.path.join(run_path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(run_path, fd)

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


def holder(run_path: str) -> str:
    """'pid N' of the learner holding the lock, as it wrote it, or 'unknown pid'."""
    try:
        with open(os.path.join(run_path, LOCK_NAME)) as fh:
            pid = fh.read().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "unknown pid"


def holds_run(run_path: str) -> bool:
    return os.path.isdir(run_path) and any(entry != LOCK_NAME for entry in os.listdir(run_path))


def lock_existing(run_path: str) -> RunLock:
    """Lock a run folder to continue or replace it; RunFolderError if another learner has it."""
    os.makedirs(run_path, exist_ok=True)
    lock = RunLock.try_acquire(run_path)
    if lock is None:
        raise RunFolderError(f"{run_path} is in use by another learner ({holder(run_path)}); stop it first")
    return lock


def claim_new(parent: str, name: str) -> tuple[str, RunLock]:
    """(path, lock) of the first free folder of `<name>`, `<name>-2`, ... under `parent`."""
    os.makedirs(parent, exist_ok=True)
    for number in range(1, MAX_NUMBER):
        path = os.path.join(parent, name if number == 1 else f"{name}-{number}")
        try:
            os.mkdir(path)  # atomic: of two learners starting at once, one makes it
        except FileExistsError:
            if not os.path.isdir(path) or holds_run(path):
                continue
        lock = RunLock.try_acquire(path)
        if lock is None:
            continue  # another learner just claimed this empty folder
        if holds_run(path):  # it wrote here between our look and our lock
            lock.release()
            continue
        return path, lock
    raise RunFolderError(f"{parent}: {name} and {name}-2 ... {name}-{MAX_NUMBER - 1} are all taken; pick another name")


def empty_folder(run_path: str) -> list[str]:
    """Remove everything in a locked run folder but the lock; what was removed, for the user."""
    removed = []
    for entry in sorted(os.listdir(run_path)):
        if entry == LOCK_NAME:
            continue
        full = os.path.join(run_path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            removed.append(f"{entry}/ ({len(os.listdir(full))} files)")
            shutil.rmtree(full)
        else:
            removed.append(entry)
            os.remove(full)
    return removed
