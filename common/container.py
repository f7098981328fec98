"""Container entrypoint: run the command as the owner of the runs folder, so the files it writes are theirs.

    ENTRYPOINT ["python", "-m", "common.container"]      (the Dockerfile)

Started as root (the image's default), it takes the uid:gid that owns /app/runs (the host's
runs/ folder mounted there, or the image's own folder, owned by the image's user `asyncrl`,
1000), or ASYNCRL_UID / ASYNCRL_GID where set, drops to it and execs the command. A root-owned
runs/ (root on the host, e.g. a cloud VM) keeps root. Started as another user (`docker run
--user`), it only execs the command. So `docker-compose up` works as root and as any user with
no variable set, and `runs/` keeps one owner.
"""

from __future__ import annotations

import os
import pwd
import stat
import sys
import tempfile
from collections.abc import Mapping

RUNS = "/app/runs"


class ContainerError(ValueError):
    """Bad ASYNCRL_UID / ASYNCRL_GID; one line for the user."""


def _id(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name, "")
    if not text:
        return None  # compose passes "" for an unset variable
    if not text.isdigit():
        raise ContainerError(f"{name} must be a number >= 0 (a uid or gid), got {text!r}")
    return int(text)


def target_user(runs_owner: tuple[int, int] | None, env: Mapping[str, str]) -> tuple[int, int]:
    """uid, gid to run as: ASYNCRL_UID / ASYNCRL_GID if set, else the runs folder's owner, else root."""
    uid, gid = runs_owner if runs_owner is not None else (0, 0)
    forced_uid, forced_gid = _id(env, "ASYNCRL_UID"), _id(env, "ASYNCRL_GID")
    if forced_uid is not None:
        uid = gid = forced_uid  # the usual Linux user: a group of the same number
    if forced_gid is not None:
        gid = forced_gid
    return uid, gid


def home_for(uid: int, gid: int) -> str:
    """A home the user owns (XLA's compile cache lives in $HOME): the image's passwd home if it is theirs,
    else a fresh private folder made here. Nothing that exists already is handed over (uid 2's passwd
    home is /bin)."""
    try:
        home = pwd.getpwuid(uid).pw_dir
        info = os.lstat(home)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == uid:
            return home
    except (KeyError, OSError):
        pass
    home = tempfile.mkdtemp(prefix=f"asyncrl-home-{uid}-")  # mode 0700, a new name: no symlink to follow
    os.chown(home, uid, gid)
    return home


def drop_to(uid: int, gid: int) -> None:
    os.environ["HOME"] = home_for(uid, gid)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def main(argv: list[str]) -> int:
    if not argv:
        print("error: common.container: no command given", file=sys.stderr)
        return 2
    if os.geteuid() == 0:
        owner = (os.stat(RUNS).st_uid, os.stat(RUNS).st_gid) if os.path.isdir(RUNS) else None
        try:
            uid, gid = target_user(owner, os.environ)
        except ContainerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if (uid, gid) != (0, 0):
            drop_to(uid, gid)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"error: cannot run {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
