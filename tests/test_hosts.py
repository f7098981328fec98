"""The test hosts' set-up scripts (.ci/hosts/): present, executable, valid bash, one-line usage errors.

What they set up is checked by running them: `.ci/run` runs docker-engine and tests/test_swarm.py
runs second-node (docs/testing.md#the-test-hosts). These checks need neither root nor Docker.
"""

import os
import subprocess
from pathlib import Path

import pytest
from proc_utils import ROOT

HOSTS = Path(ROOT) / ".ci" / "hosts"
SCRIPTS = ["docker-engine", "second-node"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_is_executable_bash(name):
    script = HOSTS / name
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("name, args", [("docker-engine", ["now"]), ("second-node", []), ("second-node", ["sideways"])])
def test_a_wrong_argument_is_one_usage_line_and_exit_2(name, args):
    res = subprocess.run([str(HOSTS / name), *args], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.startswith(f"{name}: error: usage: ") and res.stderr.count("\n") == 1
