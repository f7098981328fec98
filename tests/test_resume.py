"""Resume after a hard crash: kill -9 of the whole training tree, then `python -m learner --resume`."""

import json
import os
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
from proc_utils import ROOT, finish, metric_rows, start_learner, wait_for

from learner.checkpoint import checkpoint_frames

INTERVAL = 2_000  # checkpoint interval in frames
UPDATE_FRAMES = 40  # smoke_cartpole: B=1 x T=10 x E=4 x 1 frame


def _resume(run, total_frames):
    """`python -m learner --resume RUN --total-frames N`, as a user types it (no --run-dir)."""
    return _start("--resume", str(run), "--total-frames", str(total_frames))


def _start(*args):
    """`python -m learner ARGS` in its own session, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "learner", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _arrays(path):
    """Every dataset of an HDF5 file by name (weights or training state)."""
    out = {}
    with h5py.File(path, "r") as fh:
        fh.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _logged_frames(path):
    """charts/frames of each complete metrics.csv row (a kill -9 may leave the last one half-written)."""
    return [float(r["charts/frames"]) for r in metric_rows(path) if r.get("charts/frames")]


def _assert_same(a, b):
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_kill_9_then_resume_continues_from_the_last_checkpoint(tmp_path):
    proc = start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--total-frames",
        "50000000",
        "--set",
        f"run.checkpoint_interval_frames={INTERVAL}",
        run_dir=tmp_path,
    )
    run = tmp_path / "smoke_cartpole"
    ckdir = str(run / "checkpoints")

    # Also a metrics row at or before a checkpoint: on a fast machine three checkpoints can land before
    # the first row (1 s interval), and the rows both bound the frames a crash may lose and must keep
    # a row from before the checkpoint once the resume drops the rows past it.
    def ready():
        frames = checkpoint_frames(ckdir)
        return len(frames) >= 3 and any(f <= frames[0] for f in _logged_frames(run / "metrics.csv"))

    if not wait_for(ready, 240, proc):
        rc, out = finish(proc, timeout=30)
        raise AssertionError(f"no three checkpoints and a metrics row before them (rc {rc}):\n{out}")
    os.killpg(proc.pid, signal.SIGKILL)  # learner, actors and helpers at once: no final checkpoint
    proc.communicate(timeout=30)
    reached = max(_logged_frames(run / "metrics.csv"))  # a lower bound
    frames = checkpoint_frames(ckdir)[0]
    assert reached - frames <= INTERVAL, (reached, frames)  # at most one checkpoint interval lost
    saved = tmp_path / "saved"
    shutil.copytree(ckdir, saved)
    saved_state = _arrays(saved / f"{frames}.state.h5")
    with h5py.File(saved / f"{frames}.state.h5", "r") as fh:
        counters = dict(fh.attrs)
    assert counters["frames"] == frames and counters["updates"] == frames // UPDATE_FRAMES

    # Resume with a budget that is already reached: nothing is trained and the final checkpoint is
    # the restored state itself, so weights, optimizer, target and counters must equal the checkpoint's.
    rc, out = finish(_resume(run, frames), 180)
    assert rc == 0, out
    assert f"resuming from {ckdir}/{frames}.weights.h5: {frames:,} frames, {frames // UPDATE_FRAMES} updates" in out
    _assert_same(_arrays(saved / f"{frames}.weights.h5"), _arrays(f"{ckdir}/latest.weights.h5"))
    _assert_same(saved_state, _arrays(f"{ckdir}/latest.state.h5"))
    with h5py.File(f"{ckdir}/latest.state.h5", "r") as fh:
        assert {k: fh.attrs[k] for k in ("frames", "updates", "episodes")} == {
            k: counters[k] for k in ("frames", "updates", "episodes")
        }

    # Resume for real: training goes on from that frame count and the metrics are appended to.
    rc, out = finish(_resume(run, frames + 4_000), 240)
    assert rc == 0, out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from_frames"] == frames and summary["frames"] >= frames + 4_000
    assert summary["updates"] == summary["frames"] // UPDATE_FRAMES  # the update count went on, not restarted
    assert summary["episodes"] > counters["episodes"]
    logged = _logged_frames(run / "metrics.csv")
    assert logged == sorted(logged), "rows past the checkpoint were kept, or a row restarted from 0"
    assert any(f <= frames for f in logged) and any(f > frames for f in logged)
    assert checkpoint_frames(ckdir)[0] == summary["frames"]


def test_resume_bad_input_is_one_line(tmp_path):
    def run(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "learner", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 2 and out.strip().splitlines() == [out.strip()] and "Traceback" not in out, out
        return out

    assert "is not a run folder (no config.json in it)" in run("--resume", str(tmp_path / "nope"))
    assert "drop --config" in run("--resume", str(tmp_path), "--config", "configs/smoke_cartpole.yaml")
    (tmp_path / "run").mkdir()
    config_text = '{"name": "run", "env": {"id": "CartPole-v1"}}'
    (tmp_path / "run" / "config.json").write_text(config_text)
    assert "holds no complete checkpoint" in run("--resume", str(tmp_path / "run"), "--set", "seed=7")
    assert (tmp_path / "run" / "config.json").read_text() == config_text, "a failed --resume rewrote config.json"
    for text, found in (("", "an empty file"), ("null", "null"), ("{}", "{}")):
        (tmp_path / "run" / "config.json").write_text(text)
        assert f"holds no run config ({found}); nothing to resume" in run("--resume", str(tmp_path / "run"))


def _run_to_end(*args, run_dir=None):
    """`python -m learner ARGS` to its end (exit code 0); its output."""
    proc = start_learner(*args, run_dir=run_dir) if run_dir else _start(*args)
    rc, out = finish(proc, timeout=180)
    assert rc == 0, out
    return out


def test_stop_at_frames_stops_early_and_a_bare_resume_keeps_the_schedule(tmp_path):
    budget, first, second = 40_000, 8_000, 16_000
    _run_to_end(
        "--config", "configs/smoke_cartpole.yaml", "--total-frames", str(budget),
        "--set", f"run.stop_at_frames={first}", run_dir=tmp_path,
    )  # fmt: skip
    run = tmp_path / "smoke_cartpole"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outcome"] == "stopped at run.stop_at_frames", summary["outcome"]
    assert first <= summary["frames"] < first + UPDATE_FRAMES, summary["frames"]
    assert checkpoint_frames(str(run / "checkpoints"))[0] == summary["frames"]

    out = _run_to_end("--resume", str(run))  # a bare resume: already there, so it trains nothing
    assert json.loads((run / "summary.json").read_text())["frames"] == summary["frames"], out

    _run_to_end("--resume", str(run), "--set", f"run.stop_at_frames={second}")
    summary = json.loads((run / "summary.json").read_text())
    assert second <= summary["frames"] < second + UPDATE_FRAMES, summary["frames"]
    lr0 = json.loads((run / "config.json").read_text())["learner"]["learning_rate"]
    last = metric_rows(run / "metrics.csv")[-1]
    frames, lr = float(last["charts/frames"]), float(last["learner/learning_rate"])
    # The schedule anneals over the whole budget, not to the stop: lr = lr0 * (1 - updates / total updates).
    np.testing.assert_allclose(lr, lr0 * (1 - frames / budget), rtol=0.01)
