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
import sys
from collections.abc import Mapping

RUNS = "/app/runs"


def target_user(runs_owner: tuple[int, int] | None, env: Mapping[str, str]) -> tuple[int, int]:
    """uid, gid to run as: ASYNCRL_UID / ASYNCRL_GID if set, else the runs folder's owner, else root."""
    uid, gid = runs_owner if runs_owner is not None else (0, 0)
    if env.get("ASYNCRL_UID"):
        uid = gid = int(env["ASYNCRL_UID"])  # the usual Linux user: a group of the same number
    if env.get("ASYNCRL_GID"):
        gid = int(env["ASYNCRL_GID"])
    return uid, gid


def home_for(uid: int) -> str:
    """The user's home from the image's passwd, else a private folder (XLA's compile cache lives in $HOME)."""
    try:
        return pwd.getpwuid(uid).pw_dir
    except KeyError:
        return f"/tmp/asyncrl-home-{uid}"


def drop_to(uid: int, gid: int) -> None:
    home = home_for(uid)
    os.makedirs(home, mode=0o700, exist_ok=True)
    if os.stat(home).st_uid != uid:
        os.chown(home, uid, gid)
    os.environ["HOME"] = home
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def main(argv: list[str]) -> int:
    if not argv:
        print("error: common.container: no command given", file=sys.stderr)
        return 2
    if os.geteuid() == 0:
        owner = (os.stat(RUNS).st_uid, os.stat(RUNS).st_gid) if os.path.isdir(RUNS) else None
        uid, gid = target_user(owner, os.environ)
        if uid != 0:
            drop_to(uid, gid)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        print(f"error: cannot run {argv[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
