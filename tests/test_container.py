"""common.container, the image's entrypoint: whose files runs/ gets, and the exec it ends in."""

import os
import subprocess
import sys

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


def test_a_user_without_a_passwd_entry_gets_a_private_home():
    assert container.home_for(0) == "/root"
    assert container.home_for(987_654) == "/tmp/asyncrl-home-987654"


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
