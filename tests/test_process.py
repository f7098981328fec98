"""common.process: the compile cache, seeds per role, guarded entry points, bounded stops, log lines."""

import os
import signal
import time

from common.process import (
    SEED_MODULUS,
    context,
    derive_seed,
    enable_compile_cache,
    get_logger,
    guarded_entry,
    spawn,
    stop_processes,
)


def _clear(monkeypatch):
    for k in (
        "JAX_COMPILATION_CACHE_DIR",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
    ):
        monkeypatch.delenv(k, raising=False)


def test_default_cache_dir_under_xdg_cache_home(monkeypatch, tmp_path):
    _clear(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    enable_compile_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "asyncrl" / "jax")
    assert os.path.isdir(tmp_path / "asyncrl" / "jax")
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"


def test_empty_setting_turns_the_cache_off(monkeypatch):
    _clear(monkeypatch)
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "")
    enable_compile_cache()
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == ""
    assert "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ


def test_unwritable_home_runs_without_cache(monkeypatch, tmp_path):
    _clear(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # makedirs fails under a file
    enable_compile_cache()
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ


def test_seeds_of_different_processes_never_share_an_env_seed():
    """Every process's envs count up from its seed: no two processes of one run may overlap."""
    envs = 32  # more envs per process than any preset uses
    for run_seed in (0, 1, 7, 12345, 99_999):
        starts = [derive_seed(run_seed, "actor", a, i) for a in range(32) for i in range(20)]
        starts += [derive_seed(run_seed, "remote", n) for n in range(64)]
        starts.append(derive_seed(run_seed, "eval"))
        starts.sort()
        assert all(b - a >= envs for a, b in zip(starts, starts[1:])), run_seed
        assert all(0 <= s and s + envs < 2**31 for s in starts) and SEED_MODULUS + 2**16 == 2**31


def test_seeds_are_the_ones_runs_have_always_used():
    # Changing them would change every run's games: learning figures in RESULTS.md rest on these.
    assert derive_seed(0, "actor", 1, 0) == 10_007
    assert derive_seed(3, "actor", 0, 2) == 3 * 1_000_003 + 202
    assert derive_seed(0, "remote", 2) == 500_009 + 2 * 7_919
    assert derive_seed(5, "eval") == 5 * 1_000_003 + 999_983


def _crash():
    raise ValueError("boom")


def _returns(code):
    return code


def test_guarded_entry_exit_codes(capfd):
    guarded_entry("test", _returns, None)  # a clean return: nothing to do, the caller goes on
    for target, args, code in ((_crash, (), 1), (_returns, (2,), 2)):
        proc = spawn("common.process:guarded_entry", ("test role", target, *args))
        proc.join(timeout=60)
        assert proc.exitcode == code
    err = capfd.readouterr().err
    assert "[test role " in err and "crashed:" in err and "ValueError: boom" in err


def _ignore_term_and_sleep(ready):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    time.sleep(60)


def test_stop_processes_kills_a_child_that_ignores_sigterm():
    ctx = context()
    ready = ctx.Event()
    proc = ctx.Process(target=_ignore_term_and_sleep, args=(ready,), daemon=True)
    proc.start()
    assert ready.wait(timeout=60)  # a spawned child on busy cores can take seconds to get here
    started = time.monotonic()
    stop_processes([proc, None], deadline_s=0.5)
    assert not proc.is_alive() and proc.exitcode == -signal.SIGKILL
    assert time.monotonic() - started < 10


def test_log_lines_name_the_role_and_pid(capsys):
    get_logger("learner").info("hello")
    get_logger("actor 3").warning("careful")
    out, err = capsys.readouterr()
    assert out == f"[learner {os.getpid()}] hello\n"
    assert err == f"[actor 3 {os.getpid()}] careful\n"
