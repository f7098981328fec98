"""Which folder a run writes to, and a lock so that only one learner writes there.

A new run never writes into a folder that holds another run: when `<run.dir>/<name>` is
taken it goes to the first free `<name>-2`, `<name>-3`, ... (as rl-zoo numbers its runs).
`overwrite` empties the folder first and says what it removes; `resume` continues the run
that is there. A folder "holds a run" when it has anything in it but the lock file.

`--resume-or-start` (`resume_or_start`) looks at the newest run of the name, the highest-numbered
of `<name>`, `<name>-2`, ...: an unfinished one is continued (an orchestrator restarting a killed
learner relies on it); a finished one (`finished`: continuing it with its own settings would train
nothing) is left as it is and a new run starts at the next number above it.

The lock is an `fcntl.flock` on `<run>/.lock`, held by the learner process for its whole
life. The kernel drops it when the process dies, however it dies, so a crashed run never
leaves a stale lock; the file keeps the holder's pid for the error message.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass

from common import config as config_lib
from learner.checkpoint import checkpoint_frames

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


def runs_of(parent: str, name: str) -> list[str]:
    """The folders `<name>`, `<name>-2`, `<name>-3`, ... under `parent` that hold a run, lowest number first."""
    if not os.path.isdir(parent):
        return []
    numbered = re.compile(re.escape(name) + r"-([1-9][0-9]{0,3})")
    found = []
    for entry in os.listdir(parent):
        match = numbered.fullmatch(entry)
        number = 1 if entry == name else int(match.group(1)) if match else 0  # `<name>-1` is no number of it
        if (entry == name or number >= 2) and holds_run(os.path.join(parent, entry)):
            found.append((number, os.path.join(parent, entry)))
    return [path for _, path in sorted(found)]


def finished(run_path: str) -> str | None:
    """Why the run in `run_path` is finished, i.e. continuing it with its own settings would train nothing
    ("10,000 frames: its whole budget"); None when it is not (or has no checkpoint to continue from).
    ConfigError when its config.json cannot be read."""
    saved = checkpoint_frames(os.path.join(run_path, "checkpoints"))
    if not saved:
        return None
    frames = saved[0]
    cfg = config_lib.load(os.path.join(run_path, "config.json"))
    if frames >= cfg.total_frames:
        return f"{frames:,} frames: its whole budget"
    if frames >= config_lib.stop_frames(cfg):
        return f"{frames:,} frames: it stopped at its run.stop_at_frames"
    if _solved_at(run_path) == frames:  # a resumed solved run stops again before its first update
        return f"{frames:,} frames: it reached its run.stop_at_return"
    return None


def _solved_at(run_path: str) -> int | None:
    """The frames of summary.json when its outcome is "solved"; None otherwise or where it cannot be read."""
    try:
        with open(os.path.join(run_path, "summary.json")) as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return None
    return summary.get("frames") if isinstance(summary, dict) and summary.get("outcome") == "solved" else None


@dataclass
class Choice:
    """What `--resume-or-start` does: continue the run in `path` (resume), start a new one there, or start one
    there replacing what a run without a checkpoint left (replace)."""

    path: str
    resume: bool
    replace: bool
    note: str | None  # one line for the user: what was found and what is done; None when no run had the name


def resume_or_start(parent: str, name: str) -> Choice:
    """The newest run of `name` under `parent` (its highest-numbered folder) continued if unfinished; else a new
    run at the next number above it. A newest folder without a checkpoint is started again (replaced)."""
    runs = runs_of(parent, name)
    if not runs:
        return Choice(os.path.join(parent, name), False, True, None)  # nothing there but maybe a lock
    newest = runs[-1]
    if not checkpoint_frames(os.path.join(newest, "checkpoints")) or not os.path.isfile(
        os.path.join(newest, "config.json")
    ):
        return Choice(newest, False, True, f"{newest} holds no checkpoint to continue from: starting it again there")
    why = finished(newest)
    if why is None:
        return Choice(newest, True, False, f"{newest} holds an unfinished run: continuing it")
    number = 1 if newest == os.path.join(parent, name) else int(newest.rsplit("-", 1)[1])
    if number + 1 >= MAX_NUMBER:
        raise RunFolderError(
            f"{newest} is a finished run and {name}-{MAX_NUMBER} is past the last number; pick another name"
        )
    path = os.path.join(parent, f"{name}-{number + 1}")
    return Choice(
        path,
        False,
        False,
        f"{newest} is a finished run ({why}), left as it is; starting {path} "
        f"(to continue the finished one: --resume {newest})",
    )
