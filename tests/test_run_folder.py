"""A run never writes into another run's folder: numbering, --overwrite, the lock, --resume-or-start, names."""

import json
import subprocess
import sys

import pytest
from proc_utils import ROOT, finish, start_learner

from learner.run_folder import LOCK_NAME, RunFolderError, RunLock, claim_new, empty_folder, holds_run, lock_existing

SMOKE = ("--config", "configs/smoke_cartpole.yaml", "--set", "total_frames=5000")

HOLD_LOCK = """
import sys, time
from learner.run_folder import RunLock
lock = RunLock.try_acquire(sys.argv[1])
print("held" if lock else "busy", flush=True)
time.sleep(60)
"""


def test_a_taken_name_gets_the_next_free_number(tmp_path):
    first, lock1 = claim_new(str(tmp_path), "run")
    (tmp_path / "run" / "metrics.csv").write_text("old run\n")
    second, lock2 = claim_new(str(tmp_path), "run")
    (tmp_path / "run-2" / "config.json").write_text("{}")
    third, _ = claim_new(str(tmp_path), "run")
    assert [first, second, third] == [str(tmp_path / n) for n in ("run", "run-2", "run-3")]
    assert (tmp_path / "run" / "metrics.csv").read_text() == "old run\n"


def test_an_empty_folder_or_one_with_only_a_lock_is_free(tmp_path):
    (tmp_path / "run").mkdir()
    path, lock = claim_new(str(tmp_path), "run")
    assert path == str(tmp_path / "run") and not holds_run(path)
    lock.release()
    assert claim_new(str(tmp_path), "run")[0] == path  # the lock file alone is no run


def test_a_folder_locked_by_another_process_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert RunLock.try_acquire(str(run)) is None
        with pytest.raises(RunFolderError, match=rf"in use by another learner \(pid {holder.pid}\)"):
            lock_existing(str(run))
        assert claim_new(str(tmp_path), "run")[0] == str(tmp_path / "run-2")  # an empty but locked folder is taken
    finally:
        holder.kill()
        holder.wait()
    lock_existing(str(run)).release()  # the kernel dropped a dead holder's lock: no stale lock


def test_empty_folder_keeps_only_the_lock_and_says_what_it_removed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "5000.weights.h5").write_bytes(b"x")
    (tmp_path / "metrics.csv").write_text("x")
    lock = RunLock.try_acquire(str(tmp_path))
    assert empty_folder(str(tmp_path)) == ["checkpoints/ (1 files)", "metrics.csv"]
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_NAME]
    lock.release()


def test_training_twice_under_one_name_keeps_both_runs(tmp_path):
    rc, out = finish(start_learner(*SMOKE, run_dir=tmp_path), timeout=180)
    assert rc == 0, out
    first_metrics = (tmp_path / "smoke_cartpole" / "metrics.csv").read_text()
    rc, out = finish(start_learner(*SMOKE, "--seed", "1", run_dir=tmp_path), timeout=180)
    assert rc == 0, out
    assert f"this one writes to {tmp_path / 'smoke_cartpole-2'}" in out
    assert (tmp_path / "smoke_cartpole" / "metrics.csv").read_text() == first_metrics
    saved = json.loads((tmp_path / "smoke_cartpole-2" / "config.json").read_text())
    assert saved["name"] == "smoke_cartpole-2" and saved["seed"] == 1
    summary = json.loads((tmp_path / "smoke_cartpole-2" / "summary.json").read_text())
    assert summary["run_path"] == str(tmp_path / "smoke_cartpole-2")


def test_overwrite_replaces_the_run_and_resume_or_start_continues_it(tmp_path):
    run = tmp_path / "smoke_cartpole"
    rc, out = finish(start_learner(*SMOKE, "--resume-or-start", run_dir=tmp_path), timeout=180)
    assert rc == 0, out
    assert json.loads((run / "summary.json").read_text())["resumed_from_frames"] is None
    rc, out = finish(start_learner(*SMOKE, "--resume-or-start", "--total-frames", "10000", run_dir=tmp_path), 180)
    assert rc == 0, out
    assert json.loads((run / "summary.json").read_text())["resumed_from_frames"] >= 5000
    rc, out = finish(start_learner(*SMOKE, "--overwrite", run_dir=tmp_path), timeout=180)
    assert rc == 0, out
    assert f"overwrite: removed from {run}: checkpoints/" in out
    assert json.loads((run / "summary.json").read_text())["resumed_from_frames"] is None
    assert not (tmp_path / "smoke_cartpole-2").exists()


def test_a_second_learner_on_a_locked_run_is_refused_with_one_line(tmp_path):
    run = tmp_path / "smoke_cartpole"
    rc, out = finish(start_learner(*SMOKE, run_dir=tmp_path), timeout=180)
    assert rc == 0, out
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [sys.executable, "-m", "learner", "--resume", str(run)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        rc, out = second.returncode, second.stdout + second.stderr
    finally:
        holder.kill()
        holder.wait()
    assert rc == 1
    assert (
        out.strip().splitlines()[-1] == f"error: {run} is in use by another learner (pid {holder.pid}); stop it first"
    )


@pytest.mark.parametrize("name", ["../../tmp/x", "/tmp/x", "a/b", ".."])
def test_run_names_that_climb_out_are_refused(tmp_path, name):
    rc, out = finish(start_learner(*SMOKE, "--name", name, run_dir=tmp_path / "runs"), timeout=60)
    assert rc == 2
    assert out.strip().splitlines()[-1].startswith(f"error: name: {name!r} must be one folder name under run.dir")
    assert not (tmp_path / "runs").exists()
