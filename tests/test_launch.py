"""The XLA compile cache is on by default, follows XDG_CACHE_HOME, and the user's setting wins."""

import os

from common.launch import enable_compile_cache


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
