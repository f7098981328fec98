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

from common import config as config_lib
from learner.checkpoint import checkpoint_frames
from learner.progress import LEG_FIELDS, summarize

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


def _optimizer_arrays(path):
    """A checkpoint's optimizer variables by Keras path (its iteration count included)."""
    with h5py.File(path, "r") as fh:
        return {str(d.attrs["name"]): d[()] for d in fh["optimizer"].values()}


def test_an_appo_run_resumes_with_its_adam_state_and_steps_per_batch(tmp_path):
    appo = ["algorithm=appo", "learner.epochs=2", "learner.minibatches=2", "learner.optimizer=adam"]
    sets = [a for setting in [*appo, "learner.value_clip=0.5"] for a in ("--set", setting)]
    proc = start_learner("--config", "configs/smoke_cartpole.yaml", "--total-frames", "2000", *sets, run_dir=tmp_path)
    rc, out = finish(proc, 180)
    assert rc == 0, out
    run, ckdir = tmp_path / "smoke_cartpole", tmp_path / "smoke_cartpole" / "checkpoints"
    frames = checkpoint_frames(str(ckdir))[0]
    saved_weights, saved_state = _arrays(ckdir / "latest.weights.h5"), _arrays(ckdir / "latest.state.h5")
    optimizer = _optimizer_arrays(ckdir / "latest.state.h5")
    assert any(name.endswith("_momentum") for name in optimizer)  # Adam's, not RMSprop's
    assert optimizer["adam/iteration"] == frames // UPDATE_FRAMES * 4  # 2 epochs x 2 minibatches a batch

    # The budget already reached: nothing is trained, and the final checkpoint is the restored state itself.
    rc, out = finish(_resume(run, frames), 180)
    assert rc == 0, out
    _assert_same(saved_weights, _arrays(ckdir / "latest.weights.h5"))
    _assert_same(saved_state, _arrays(ckdir / "latest.state.h5"))

    rc, out = finish(_resume(run, frames + 1_000), 180)
    assert rc == 0, out
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from_frames"] == frames and summary["updates"] == summary["frames"] // UPDATE_FRAMES
    assert _optimizer_arrays(ckdir / "latest.state.h5")["adam/iteration"] == summary["updates"] * 4
    rows = metric_rows(run / "metrics.csv")
    assert float(rows[-1]["charts/frames"]) > frames
    for name in ("appo/ratio_mean", "appo/ratio_max", "appo/clip_fraction", "appo/approx_kl"):
        assert np.isfinite(float(rows[-1][name])), name


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

    first_leg, started = summary, (run / "config.json").read_bytes()
    out = _run_to_end("--resume", str(run))  # a bare resume: already there, so it trains nothing
    assert json.loads((run / "summary.json").read_text())["frames"] == summary["frames"], out

    out = _run_to_end("--resume", str(run), "--set", f"run.stop_at_frames={second}")
    assert f"this leg changes run.stop_at_frames: {first} -> {second}" in out
    summary = json.loads((run / "summary.json").read_text())
    assert second <= summary["frames"] < second + UPDATE_FRAMES, summary["frames"]
    # The record of the earlier legs stays: config.json as the run started, each leg's changes beside it,
    # and the first leg's summary as the first of the legs.
    assert (run / "config.json").read_bytes() == started
    lines = [json.loads(line) for line in (run / "resumes.jsonl").read_text().splitlines()]
    assert [(leg["frames"], leg["changes"]) for leg in lines] == [
        (first_leg["frames"], {}),
        (first_leg["frames"], {"run.stop_at_frames": [first, second]}),
    ]
    assert config_lib.load(str(run / "config.json")).run.stop_at_frames == second  # what readers get
    legs = summary["legs"]
    assert [leg["start_frames"] for leg in legs] == [0, first_leg["frames"], first_leg["frames"]]
    assert {k: legs[0][k] for k in LEG_FIELDS if k != "start_frames"} == {
        k: first_leg[k] for k in LEG_FIELDS if k != "start_frames"
    }
    assert legs[-1]["frames"] == summary["frames"] and summary["started_unix"] == first_leg["started_unix"]
    assert summary["seconds"] >= first_leg["seconds"] + legs[-1]["seconds"] - 1.0  # the run's, not the last leg's
    lr0 = json.loads((run / "config.json").read_text())["learner"]["learning_rate"]
    last = metric_rows(run / "metrics.csv")[-1]
    frames, lr = float(last["charts/frames"]), float(last["learner/learning_rate"])
    # The schedule anneals over the whole budget, not to the stop: lr = lr0 * (1 - updates / total updates).
    np.testing.assert_allclose(lr, lr0 * (1 - frames / budget), rtol=0.01)


def _leg(start, frames, seconds, restarts=0):
    leg = dict.fromkeys(LEG_FIELDS, 0)
    leg.update(outcome="completed", started_unix=1000.0 + start, seconds=seconds, first_update_seconds=2.0)
    leg.update(start_frames=start, frames=frames, updates=frames // 10, episodes=frames // 100)
    leg["actor_restarts"] = restarts
    return leg


AT_END = {"stop_window": 20, "mean_return_last_window": 9.0, "mean_return_last_100": 8.0, "solved_at": None,
          "run_path": "runs/x", "checkpoint": "runs/x/checkpoints/latest.weights.h5"}  # fmt: skip


def test_the_summary_of_a_new_run_is_its_one_leg():
    leg = _leg(0, 5_000, 30.0, restarts=1)
    s = summarize(leg, {}, False, 30.0, [{"frames": 5_000, "mean": 1.0}], None, dict(AT_END)).to_dict()
    assert s["legs"] == [leg] and s["resumed_from_frames"] is None
    assert (s["seconds"], s["started_unix"], s["actor_restarts"], s["frames"]) == (30.0, 1000.0, 1, 5_000)


def test_a_resumed_summary_keeps_the_earlier_legs_and_adds_up_the_run():
    first = summarize(_leg(0, 5_000, 30.0, 1), {}, False, 30.0, [{"frames": 5_000}], {"frames": 4_000}, dict(AT_END))
    later = summarize(_leg(5_000, 8_000, 20.0, 2), first.to_dict(), True, 50.0, [{"frames": 8_000}], None, AT_END)
    s = later.to_dict()
    assert [leg["seconds"] for leg in s["legs"]] == [30.0, 20.0] and s["resumed_from_frames"] == 5_000
    assert (s["seconds"], s["started_unix"], s["actor_restarts"], s["frames"]) == (50.0, 1000.0, 3, 8_000)
    assert s["eval_returns"] == [{"frames": 5_000}, {"frames": 8_000}]
    assert s["reached_target_at"] == {"frames": 4_000}  # the first crossing, in the first leg


def test_a_summary_from_before_legs_were_recorded_becomes_the_first_leg():
    old = {**_leg(0, 5_000, 30.0), "resumed_from_frames": None, "eval_returns": [{"frames": 6_000}]}
    del old["start_frames"]
    s = summarize(_leg(4_000, 8_000, 20.0), old, True, 45.0, [], None, dict(AT_END)).to_dict()
    assert [(leg["start_frames"], leg["frames"]) for leg in s["legs"]] == [(0, 5_000), (4_000, 8_000)]
    assert s["eval_returns"] == []  # past the checkpoint this leg resumed from: that history was undone
