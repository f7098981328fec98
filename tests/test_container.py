"""common.container, the image's entrypoint: whose files runs/ gets, and the exec it ends in."""

import os
import subprocess
import sys

import pytest

from common import container

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_owner_of_runs_is_who_the_command_runs_as():
    assert container.target_user((1000, 1000), {}) == (1000, 1000)
    assert container.target_user((0, 0), {}) == (0, 0)  # root on the host: root-owned runs/, files stay root's
    assert container.target_user((1234, 50), {}) == (1234, 50)
    assert container.target_user(None, {}) == (0, 0)  # no runs folder at all


def test_asyncrl_uid_and_gid_override_the_owner():
    assert container.target_user((0, 0), {"ASYNCRL_UID": "1001"}) == (1001, 1001)
    assert container.target_user((0, 0), {"ASYNCRL_UID": "1001", "ASYNCRL_GID": "7"}) == (1001, 7)
    assert container.target_user((1000, 1000), {"ASYNCRL_UID": ""}) == (1000, 1000)  # compose passes "" when unset


def test_bad_ids_are_one_line():
    for bad in ("asyncrl", "1000:1000", "-5"):
        with pytest.raises(container.ContainerError, match=r"^ASYNCRL_UID must be a number >= 0"):
            container.target_user((0, 0), {"ASYNCRL_UID": bad})


def test_a_home_is_only_taken_if_the_user_owns_it(monkeypatch, tmp_path):
    """uid 2's passwd home is /bin: never handed over; a fresh private folder is made instead."""
    chowned = []
    monkeypatch.setattr(container.os, "chown", lambda path, uid, gid: chowned.append((path, uid, gid)))
    monkeypatch.setattr(container.tempfile, "tempdir", str(tmp_path))
    home = container.home_for(2, 2)
    assert home.startswith(str(tmp_path / "asyncrl-home-2-")) and chowned == [(home, 2, 2)]
    assert oct(os.stat(home).st_mode & 0o777) == "0o700"


def test_drop_to_sets_home_then_group_then_user(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(container, "home_for", lambda uid, gid: str(tmp_path))
    monkeypatch.setattr(container.os, "setgroups", lambda groups: calls.append(("setgroups", groups)))
    monkeypatch.setattr(container.os, "setgid", lambda gid: calls.append(("setgid", gid)))
    monkeypatch.setattr(container.os, "setuid", lambda uid: calls.append(("setuid", uid)))
    monkeypatch.setenv("HOME", "/root")
    container.drop_to(1234, 56)
    assert calls == [("setgroups", []), ("setgid", 56), ("setuid", 1234)]  # the uid last: after it, no more rights
    assert os.environ["HOME"] == str(tmp_path)


def test_it_execs_the_command_and_passes_its_exit_code_on():
    done = subprocess.run(
        [sys.executable, "-m", "common.container", sys.executable, "-c", "import sys; sys.exit(3)"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 3


def test_no_command_or_a_missing_one_is_one_line():
    assert container.main([]) == 2
    done = subprocess.run(
        [sys.executable, "-m", "common.container", "no-such-command-xyz"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 127 and done.stderr.startswith("error: cannot run 'no-such-command-xyz'")
