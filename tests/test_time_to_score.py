"""benchmarks/time_to_score.py: reading a run's metrics, and one real screen stopped at its target."""

import json
import math
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import time_to_score as tts

ROOT = tts.ROOT
NAN = math.nan


def _rows(points):
    """(elapsed_s, frames, eval mean, eval frames) -> metrics rows as time_to_score reads them."""
    return [
        {"time/elapsed_s": s, "charts/frames": f, "eval/episodic_return": m, "eval/frames": ef}
        for s, f, m, ef in points
    ]


ROWS = _rows(
    [
        (10.0, 0, NAN, NAN),
        (20.0, 1_000, NAN, NAN),
        (30.0, 3_000, -20.0, 1_000),  # the evaluation of the weights at 1,000 frames lands in a later row
        (40.0, 5_000, NAN, NAN),
        (50.0, 7_000, 16.0, 5_000),
        (60.0, 9_000, 19.0, 7_000),
    ]
)


def test_elapsed_at_interpolates_between_the_rows_around_the_frames():
    assert tts.elapsed_at(ROWS, 1_000) == 20.0
    assert tts.elapsed_at(ROWS, 2_000) == 25.0
    assert tts.elapsed_at(ROWS, 8_000) == 55.0
    assert tts.elapsed_at(ROWS, 20_000) == 60.0  # past the last row: the last row's seconds


def test_first_reach_takes_the_first_evaluation_at_or_over_the_target():
    assert tts.evaluations(ROWS) == [(1_000, -20.0), (5_000, 16.0), (7_000, 19.0)]
    assert tts.first_reach(ROWS, 15.0) == {"frames": 5_000, "score": 16.0, "elapsed_s": 40.0}
    assert tts.first_reach(ROWS, 19.0) == {"frames": 7_000, "score": 19.0, "elapsed_s": 50.0}
    assert tts.first_reach(ROWS, 19.5) is None


def test_report_gives_minutes_at_the_steady_rate():
    report = tts.score_report(ROWS, [15.0, 21.0], warmup_s=20.0)
    assert report["steady_frames_per_s"] == pytest.approx(8_000 / 40)  # rows at 20 s .. 60 s
    assert report["targets"]["15"]["minutes_at_steady_fps"] == round(5_000 / (8_000 / 40) / 60, 1)
    assert report["targets"]["21"] is None
    assert report["frames_trained"] == 9_000 and report["elapsed_s"] == 60.0
    assert report["evaluations"] == [[1_000, -20.0, 20.0], [5_000, 16.0, 40.0], [7_000, 19.0, 50.0]]


def test_no_steady_window_gives_no_rate():
    assert tts.steady_fps(ROWS[:1], warmup_s=0.0) is None
    assert tts.score_report([], [15.0], warmup_s=0.0)["steady_frames_per_s"] is None


def test_metrics_csv_cells_left_empty_read_as_nan(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("time/elapsed_s,charts/frames,eval/episodic_return,eval/frames\n1.5,100,,\n2.5,200,7.0,150\n")
    rows = tts.read_rows(path)
    assert math.isnan(rows[0]["eval/episodic_return"]) and rows[1]["eval/episodic_return"] == 7.0
    assert tts.read_rows(tmp_path / "absent.csv") == []


def test_a_screen_stops_at_its_frame_budget_and_reports_each_target(tmp_path):
    """CartPole: any policy balances 5+ steps (the first evaluation reaches 5); 100,000 is never reached, so the
    screen runs to --max-frames while the schedules run over the 1M-frame budget."""
    out = tmp_path / "out.json"
    cmd = [sys.executable, "benchmarks/time_to_score.py", "--config", "configs/smoke_cartpole.yaml"]
    cmd += ["--target", "5", "100000", "--max-frames", "150000", "--run-dir", str(tmp_path), "--json", str(out)]
    cmd += ["--set", "total_frames=1000000", "--set", "learner.eval_interval=50000", "--set", "learner.eval_episodes=2"]
    cmd += ["--warmup", "2", "--env-seconds", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["learner_exit_code"] == 0
    assert result["env_only"]["frames_per_s"] > 0 and result["steady_frames_per_s"] > 0
    assert 150_000 <= result["frames_trained"] < 1_000_000
    hit = result["targets"]["5"]
    assert hit is not None and hit["score"] >= 5 and 0 < hit["frames"] <= 150_000 and hit["elapsed_s"] > 0
    assert result["targets"]["100000"] is None
    assert result["evaluations"] and result["run"] == str(tmp_path / "smoke_cartpole")
    assert "5: " in proc.stdout and "100000: not reached" in proc.stdout


def test_a_missing_config_is_one_line(tmp_path):
    cmd = [sys.executable, "benchmarks/time_to_score.py", "--config", "configs/nope.yaml", "--max-frames", "10"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip() == "error: configs/nope.yaml does not exist"


def test_stopping_the_screen_stops_the_learner_and_still_writes_the_report(tmp_path):
    """SIGTERM to time_to_score (not only to its learner): the learner stops with a checkpoint and the JSON is
    written; a screen resumed afterwards logs beside its run folder, not in the caller's folder."""
    import signal
    import time

    out = tmp_path / "out.json"
    cmd = [sys.executable, "benchmarks/time_to_score.py", "--config", "configs/smoke_cartpole.yaml", "--target", "1e6"]
    cmd += ["--max-frames", "100000000", "--run-dir", str(tmp_path / "screens"), "--json", str(out)]
    cmd += ["--set", "total_frames=100000000", "--set", "learner.eval_interval=50000", "--warmup", "1"]
    proc = subprocess.Popen(cmd + ["--env-seconds", "1"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    metrics = tmp_path / "screens" / "smoke_cartpole" / "metrics.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(tts.read_rows(metrics)) < 3:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    result = json.loads(out.read_text())
    assert proc.returncode == 0 and result["learner_exit_code"] == 0, stdout
    assert result["frames_trained"] > 0 and result["targets"]["1e+06"] is None
    assert (tmp_path / "screens" / "smoke_cartpole" / "checkpoints" / "latest.weights.h5").exists()

    resume = [sys.executable, os.path.join(ROOT, "benchmarks", "time_to_score.py"), "--resume"]
    resume += [str(tmp_path / "screens" / "smoke_cartpole"), "--max-frames", "1", "--env-seconds", "1"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(resume, cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (elsewhere / "runs").exists() and len(list((tmp_path / "screens").glob("time_to_score.*.log"))) == 2
