"""Every command in ordinary shell use: a reader that closes early, Ctrl-C at any moment, its own name.

Issue 40: `python -m learner --help-config | head` ended in a BrokenPipeError traceback, Ctrl-C while
JAX imported printed a 40-line KeyboardInterrupt traceback, an early Ctrl-C took 25 s to shut down,
and the console scripts called themselves `python -m ...`.
"""

import importlib
import os
import signal
import subprocess
import sys
import time

import pytest

from common import shell
from tests.proc_utils import ROOT

COMMANDS = ["learner", "actor", "actor.play", "actor.evaluate", "learner.export", "learner.plot"]
MAIN = {module: module if "." in module else f"{module}.__main__" for module in COMMANDS}
SCRIPTS = {  # pyproject.toml's console scripts
    "learner": "asyncrl-train",
    "actor": "asyncrl-actor",
    "actor.play": "asyncrl-play",
    "actor.evaluate": "asyncrl-eval",
    "learner.export": "asyncrl-export",
    "learner.plot": "asyncrl-plot",
}


def _python(*args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, **kwargs)


def test_every_console_script_is_tested():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    assert {name: target.split(":")[0] for name, target in scripts.items()} == {
        script: MAIN[module] for module, script in SCRIPTS.items()
    }


@pytest.mark.parametrize("args", [[module, "--help"] for module in COMMANDS] + [["learner", "--help-config"]])
def test_a_reader_that_closes_early_gets_no_traceback(args):
    proc = _python("-m", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head -0`: gone before the command writes anything
    err = proc.stderr.read()
    rc = proc.wait(timeout=60)
    assert err == "" and rc in (0, shell.SIGPIPE_EXIT), (rc, err)


@pytest.mark.parametrize("module", COMMANDS)
def test_usage_names_the_command_as_typed(module, monkeypatch, capsys):
    main = importlib.import_module(MAIN[module]).main
    for argv0, name in [
        (os.path.join(ROOT, *MAIN[module].split(".")) + ".py", f"python -m {module}"),  # as `python -m` sets it
        (f"/somewhere/.venv/bin/{SCRIPTS[module]}", SCRIPTS[module]),  # the console script
    ]:
        monkeypatch.setattr(sys, "argv", [argv0, "--help"])
        with pytest.raises(SystemExit) as info:
            main(["--help"])
        assert info.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: {name} ")


def test_command_name():
    assert shell.command_name("learner") == "python -m learner"  # pytest's argv[0] is no console script
    saved = sys.argv[0]
    try:
        sys.argv[0] = "/usr/local/bin/asyncrl-plot"
        assert shell.command_name("learner.plot") == "asyncrl-plot"
    finally:
        sys.argv[0] = saved


def _loaded(pid: int, library: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return library in fh.read()
    except OSError:
        return False


def _ctrl_c(proc, timeout_s: float = 60.0) -> tuple[int, str, float]:
    """Ctrl-C as a terminal sends it (to the whole process group); (exit code, output, seconds to exit)."""
    os.killpg(proc.pid, signal.SIGINT)
    sent = time.monotonic()
    out, _ = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, time.monotonic() - sent


def _start_learner(tmp_path, *extra):
    args = ["--config", "configs/smoke_cartpole.yaml", "--total-frames", "50000000", "--run-dir", str(tmp_path)]
    return _python(
        "-m",
        "learner",
        *args,
        *extra,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the test's Ctrl-C reaches the learner and its actors, not pytest
    )


def test_ctrl_c_while_jax_imports_prints_one_line(tmp_path):
    proc = _start_learner(tmp_path)
    deadline = time.monotonic() + 60
    while not _loaded(proc.pid, "jaxlib") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    rc, out, _ = _ctrl_c(proc)
    assert rc == 130 and out == "interrupted\n", (rc, out)
