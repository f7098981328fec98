"""A run never writes into another run's folder: numbering, --overwrite, the lock, --resume-or-start, names."""

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest
from proc_utils import ROOT, finish, start_learner, wait_for

from common import config as config_lib
from learner.checkpoint import checkpoint_frames
from learner.run_folder import (
    LOCK_NAME,
    RunFolderError,
    RunLock,
    claim_new,
    empty_folder,
    finished,
    holds_run,
    lock_existing,
    resume_or_start,
    runs_of,
)

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


def _fake_run(path, total_frames=10_000, checkpoint=None, **run_section):
    """A run folder as the learner leaves it: config.json, and a checkpoint pair at `checkpoint` frames."""
    os.makedirs(path / "checkpoints", exist_ok=True)
    cfg = {"name": path.name, "total_frames": total_frames, "env": {"id": "CartPole-v1"}, "run": run_section}
    config_lib.save(config_lib.from_dict(cfg), str(path / "config.json"))
    if checkpoint is not None:
        for suffix in ("weights", "state"):
            (path / "checkpoints" / f"{checkpoint}.{suffix}.h5").write_bytes(b"x")


def test_finished_says_why_continuing_would_train_nothing(tmp_path):
    _fake_run(tmp_path / "a", checkpoint=4_000)
    _fake_run(tmp_path / "b", checkpoint=10_000)
    _fake_run(tmp_path / "c", checkpoint=4_000, stop_at_frames=4_000)
    _fake_run(tmp_path / "d", checkpoint=4_000, stop_at_return=100.0)
    (tmp_path / "d" / "summary.json").write_text(json.dumps({"outcome": "solved", "frames": 4_000}))
    _fake_run(tmp_path / "e")
    assert finished(str(tmp_path / "a")) is None
    assert finished(str(tmp_path / "b")) == "10,000 frames: its whole budget"
    assert finished(str(tmp_path / "c")) == "4,000 frames: it stopped at its run.stop_at_frames"
    assert finished(str(tmp_path / "d")) == "4,000 frames: it reached its run.stop_at_return"
    assert finished(str(tmp_path / "e")) is None  # no checkpoint: nothing to continue, nothing finished
    (tmp_path / "d" / "summary.json").write_text(json.dumps({"outcome": "solved", "frames": 2_000}))
    assert finished(str(tmp_path / "d")) is None  # that summary is of an older state than the checkpoint


def test_runs_of_a_name_are_its_numbered_folders_that_hold_a_run(tmp_path):
    for entry in ("run", "run-2", "run-10", "run-1", "run-02", "run-x", "runner", "other-3", "run-3-2"):
        (tmp_path / entry).mkdir()
        (tmp_path / entry / "metrics.csv").write_text("x")
    (tmp_path / "run-11").mkdir()  # empty: no run
    assert runs_of(str(tmp_path), "run") == [str(tmp_path / n) for n in ("run", "run-2", "run-10")]
    assert runs_of(str(tmp_path / "nope"), "run") == []


@pytest.mark.parametrize(
    "runs, expected",
    [
        ({}, ("run", False, True)),  # nothing yet: start it
        ({"run": 4_000}, ("run", True, False)),  # unfinished: continue it (a restarted learner)
        ({"run": 10_000}, ("run-2", False, False)),  # finished: left as it is, a new run next to it
        ({"run": 10_000, "run-2": 4_000}, ("run-2", True, False)),  # the second `up`, -2 unfinished
        ({"run": 10_000, "run-2": 10_000}, ("run-3", False, False)),  # the second `up`, -2 finished
        ({"run": 4_000, "run-2": 10_000}, ("run-3", False, False)),  # the newest decides, not an older one
        ({"run": 10_000, "run-4": 10_000}, ("run-5", False, False)),  # above the newest, not in a gap
        ({"run": 10_000, "run-2": None}, ("run-2", False, True)),  # no checkpoint yet: start it again
    ],
)
def test_resume_or_start_continues_the_newest_unfinished_run_or_starts_the_next(tmp_path, runs, expected):
    for name, frames in runs.items():
        _fake_run(tmp_path / name, checkpoint=frames)
    choice = resume_or_start(str(tmp_path), "run")
    assert (choice.path, choice.resume, choice.replace) == (str(tmp_path / expected[0]), *expected[1:])


def test_resume_or_start_says_what_it_found_and_did(tmp_path):
    _fake_run(tmp_path / "run", checkpoint=10_000)
    assert resume_or_start(str(tmp_path), "run").note == (
        f"{tmp_path / 'run'} is a finished run (10,000 frames: its whole budget), left as it is; "
        f"starting {tmp_path / 'run-2'} (to continue the finished one: --resume {tmp_path / 'run'})"
    )
    _fake_run(tmp_path / "run-2", checkpoint=4_000)
    assert resume_or_start(str(tmp_path), "run").note == f"{tmp_path / 'run-2'} holds an unfinished run: continuing it"
    assert resume_or_start(str(tmp_path), "new").note is None


def _checksums(folder):
    """{relative path: sha256} of every file under `folder`."""
    out = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(parent, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def test_resume_or_start_leaves_a_finished_run_untouched_and_trains_a_new_one(tmp_path):
    run = tmp_path / "smoke_cartpole"
    rc, out = finish(start_learner(*SMOKE, run_dir=tmp_path), timeout=180)  # `make train`
    assert rc == 0, out
    before = _checksums(run)
    rc, out = finish(start_learner(*SMOKE, "--actors", "1", "--resume-or-start", run_dir=tmp_path), 180)  # `up`
    assert rc == 0, out
    assert f"{run} is a finished run (5,000 frames: its whole budget), left as it is; starting {run}-2" in out
    assert _checksums(run) == before
    summary = json.loads((tmp_path / "smoke_cartpole-2" / "summary.json").read_text())
    assert summary["outcome"] == "completed" and summary["frames"] >= 5_000
    assert summary["resumed_from_frames"] is None


def test_overwrite_replaces_the_run_and_resume_or_start_continues_it(tmp_path):
    run = tmp_path / "smoke_cartpole"
    ckpt = str(run / "checkpoints")
    leg = start_learner(*SMOKE, "--resume-or-start", "--total-frames", "10000000", run_dir=tmp_path)
    assert wait_for(lambda: checkpoint_frames(ckpt), 180, leg), finish(leg, timeout=30)
    os.killpg(leg.pid, signal.SIGTERM)  # as Swarm stops a learner: a final checkpoint, an unfinished run
    rc, out = finish(leg, timeout=60)
    assert rc == 0, out
    assert json.loads((run / "summary.json").read_text())["resumed_from_frames"] is None
    stopped = checkpoint_frames(ckpt)[0]
    more = f"run.stop_at_frames={stopped + 2000}"
    rc, out = finish(start_learner(*SMOKE, "--resume-or-start", "--set", more, run_dir=tmp_path), 180)
    assert rc == 0, out
    assert f"{run} holds an unfinished run: continuing it" in out
    assert json.loads((run / "summary.json").read_text())["resumed_from_frames"] == stopped
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
