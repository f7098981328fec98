"""Every command in ordinary shell use: a reader that closes early, Ctrl-C at any moment, its own name.

Issue 40: `python -m learner --help-config | head` ended in a BrokenPipeError traceback, Ctrl-C while
JAX imported printed a 40-line KeyboardInterrupt traceback, an early Ctrl-C took 25 s to shut down,
and the console scripts called themselves `python -m ...`.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
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


def _as_typed_in_a_terminal() -> None:
    """In the child, before it runs: Ctrl-C's default disposition, as a terminal's foreground job has it.
    A test run started in the background (`nohup make test &`) hands its children SIGINT ignored, which
    the commands rightly keep (common.shell.exit_on_ctrl_c); these tests are about the foreground case."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _python(*args, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, text=True, preexec_fn=_as_typed_in_a_terminal, **kwargs
    )


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
        (os.path.join(".venv", "bin", SCRIPTS[module]), SCRIPTS[module]),  # the console script
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
        sys.argv[0] = os.path.join(".venv", "bin", "asyncrl-plot")
        assert shell.command_name("learner.plot") == "asyncrl-plot"
    finally:
        sys.argv[0] = saved


SHUTDOWN_S = 8.0  # from Ctrl-C to the command's exit, whenever it comes (on a busy 2-core machine)


def _loaded(pid: int, library: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return library in fh.read()
    except OSError:
        return False


class Command:
    """A command started in a session of its own (as a terminal's foreground job), its output read as it comes."""

    def __init__(self, args: list[str], env: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the test's Ctrl-C reaches the command and its children, not pytest
            preexec_fn=_as_typed_in_a_terminal,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(text in line for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"no {text!r} within {timeout_s} s:\n{''.join(self.lines)[-3000:]}")
            time.sleep(0.05)

    def ctrl_c(self) -> tuple[int, str, float]:
        """Ctrl-C as a terminal sends it (to the whole process group): (exit code, output, seconds to exit)."""
        os.killpg(self.proc.pid, signal.SIGINT)
        sent = time.monotonic()
        try:
            rc = self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        seconds = time.monotonic() - sent
        self._reader.join(timeout=30)
        return rc, "".join(self.lines), seconds


def _learner(tmp_path, **env) -> Command:
    config = ["--config", "configs/smoke_cartpole.yaml", "--total-frames", "50000000", "--run-dir", str(tmp_path)]
    return Command(["-m", "learner", *config], env)


def _assert_stopped(tmp_path, rc: int, out: str, seconds: float) -> None:
    assert rc == 130 and "Traceback" not in out, (rc, out)
    assert seconds < SHUTDOWN_S, f"{seconds:.1f} s from Ctrl-C to exit:\n{out}"
    summary = tmp_path / "smoke_cartpole" / "summary.json"
    if summary.exists():  # the run had been built: it says how it ended
        assert json.loads(summary.read_text())["outcome"] == "stopped by Ctrl-C"


def test_ctrl_c_while_jax_imports_prints_one_line(tmp_path):
    learner = _learner(tmp_path)
    deadline = time.monotonic() + 60
    while not _loaded(learner.proc.pid, "jaxlib") and learner.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    rc, out, seconds = learner.ctrl_c()
    assert rc == 130 and out == "interrupted\n" and seconds < SHUTDOWN_S, (rc, out, seconds)


@pytest.mark.parametrize("delay_s", [2.0, 5.0])
def test_ctrl_c_at_any_moment_of_start_up(tmp_path, delay_s):
    learner = _learner(tmp_path)
    time.sleep(delay_s)
    _assert_stopped(tmp_path, *learner.ctrl_c())


def test_ctrl_c_while_the_actors_start_and_the_train_step_compiles(tmp_path):
    # A cold compile cache: the learner's compile and the actors' set-up take their longest.
    learner = _learner(tmp_path, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"))
    learner.wait_for("] run ", 120)  # the run is built; next: spawn the actors, compile the train step
    time.sleep(0.5)
    _assert_stopped(tmp_path, *learner.ctrl_c())


def test_ctrl_c_while_training(tmp_path):
    learner = _learner(tmp_path)
    learner.wait_for("] frames ", 180)  # a progress line: training has started
    _assert_stopped(tmp_path, *learner.ctrl_c())


def test_ctrl_c_stops_remote_actors_that_are_still_starting():
    actors = Command(["-m", "actor", "--learner", "127.0.0.1:1", "--processes", "2"], {"ASYNCRL_AUTHKEY": "k" * 32})
    time.sleep(3.0)  # its processes import JAX
    rc, out, seconds = actors.ctrl_c()
    assert rc == 130 and "Traceback" not in out and seconds < SHUTDOWN_S, (rc, out, seconds)


BUSY_STREAMS = """
import os, signal, sys, time
from common import shell

class Busy:  # Python's buffered streams, written by a signal handler while the main thread is mid-write
    def write(self, text):
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stderr>'>")

    def flush(self):
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name='<stdout>'>")

shell.exit_on_ctrl_c()
sys.stdout = sys.stderr = Busy()
os.kill(os.getpid(), signal.SIGINT)
time.sleep(10)
os._exit(3)  # still here: the Ctrl-C was lost
"""


def test_ctrl_c_exits_even_when_the_streams_cannot_be_written():
    # Ctrl-C lands while the command writes to stderr (a warning as JAX imports): the handler's own write
    # then raises, and the process must still leave with 130 and its one line on file descriptor 2.
    proc = _python("-c", BUSY_STREAMS, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (shell.INTERRUPTED_EXIT, "", "interrupted\n")
