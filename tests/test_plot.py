"""learner.plot: reading run folders, grouping seeds, the mean and band, and the command end to end."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from proc_utils import ROOT, finish, start_learner

pytest.importorskip("matplotlib", reason="the 'plot' extra (make installs it)")

from learner import plot

COLUMNS = ["time/elapsed_s", "charts/frames", "charts/mean_return_100", "eval/episodic_return", "eval/frames"]


def _fake_run(path, seed, returns, config_extra=None, evals=None):
    """A run folder with metrics.csv rows every 1,000 frames (return(100) blank before the first)."""
    path.mkdir(parents=True)
    config = {"name": "toy", "seed": seed, "learner": {"learning_rate": 1e-3}, "run": {"dir": str(path.parent)}}
    config.update(config_extra or {})
    (path / "config.json").write_text(json.dumps(config))
    evals = evals or {}
    with open(path / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for i, r in enumerate(returns):
            frames = 1000 * (i + 1)
            row = {"time/elapsed_s": 2.0 * (i + 1), "charts/frames": frames, "charts/mean_return_100": r}
            if frames in evals:
                row.update({"eval/episodic_return": evals[frames], "eval/frames": frames - 500})
            w.writerow(row)


def test_mean_band_matches_a_numpy_reference():
    xs = [np.array([0.0, 10.0, 20.0]), np.array([5.0, 15.0, 30.0])]
    ys = [np.array([0.0, 10.0, 20.0]), np.array([1.0, 3.0, 5.0])]
    grid, mean, low, high = plot.mean_band(xs, ys)
    assert grid[0] == 5.0 and grid[-1] == 20.0 and len(grid) == plot.GRID_POINTS  # the range both cover
    ref = np.stack([np.interp(grid, xs[0], ys[0]), np.interp(grid, xs[1], ys[1])])
    np.testing.assert_allclose(mean, ref.mean(axis=0))
    np.testing.assert_allclose(low, ref.min(axis=0))
    np.testing.assert_allclose(high, ref.max(axis=0))


def test_mean_band_of_curves_that_share_no_range_is_empty():
    grid, *_ = plot.mean_band([np.array([0.0, 1.0]), np.array([2.0, 3.0])], [np.zeros(2), np.zeros(2)])
    assert grid.size == 0


def test_runs_differing_only_in_seed_are_one_group(tmp_path):
    _fake_run(tmp_path / "sweep" / "seed0", 0, ["", 1, 2, 3])
    _fake_run(tmp_path / "sweep" / "seed1", 1, ["", 2, 3, 4])
    _fake_run(tmp_path / "other", 0, [5, 6], config_extra={"learner": {"learning_rate": 2e-3}})
    runs = plot.find_runs([str(tmp_path / "sweep"), str(tmp_path / "other")])
    assert len(runs) == 3
    curves = [plot.load_curve(r) for r in runs]
    assert [len(g) for g in plot.group_curves(curves)] == [2, 1]
    np.testing.assert_array_equal(curves[0].x["frames"], [2000, 3000, 4000])  # the blank return(100) left out
    np.testing.assert_array_equal(curves[0].ret, [1, 2, 3])


def test_evaluations_are_read_at_the_frames_of_the_weights_they_scored(tmp_path):
    _fake_run(tmp_path / "r", 0, [1, 2, 3], evals={2000: 7.5})
    curve = plot.load_curve(str(tmp_path / "r"))
    np.testing.assert_array_equal(curve.eval_x["frames"], [1500])
    np.testing.assert_array_equal(curve.eval_x["seconds"], [4.0])
    np.testing.assert_array_equal(curve.eval_ret, [7.5])


def test_the_command_writes_a_png_for_seeds_and_single_runs(tmp_path):
    _fake_run(tmp_path / "a" / "seed0", 0, [1, 2, 3], evals={2000: 1.0})
    _fake_run(tmp_path / "a" / "seed1", 1, [2, 3, 4], evals={2000: 2.0})
    out = tmp_path / "curves.png"
    assert plot.main([str(tmp_path / "a"), "--out", str(out), "--x", "seconds"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_without_runs_is_one_line(tmp_path, capsys):
    assert plot.main([str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no metrics.csv" in err and err.count("\n") == 1


def test_plot_of_real_training_runs(tmp_path):
    """Two seeds of the smoke config with evaluations, then `python -m learner.plot` over both."""
    for s in (0, 1):
        proc = start_learner(
            "--config", "configs/smoke_cartpole.yaml", "--seed", str(s), "--name", f"smoke{s}", "--total-frames",
            "8000", "--set", "learner.eval_interval=3000", "--set", "learner.eval_episodes=2",
            "--set", "run.log_interval_seconds=1", run_dir=tmp_path / "runs",
        )  # fmt: skip
        rc, out = finish(proc, timeout=180)
        assert rc == 0, out
    png = tmp_path / "curves.png"
    done = subprocess.run(
        [sys.executable, "-m", "learner.plot", str(tmp_path / "runs"), "--out", str(png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "2 run(s) in 1 line(s)" in done.stdout
    assert png.stat().st_size > 10_000


def test_a_cell_that_is_not_a_number_and_an_unknown_picture_type_are_one_line(tmp_path, capsys):
    _fake_run(tmp_path / "r", 0, [1, "oops", 3])
    assert plot.main([str(tmp_path / "r"), "--out", str(tmp_path / "x.png")]) == 2
    assert "has a cell that is not a number" in capsys.readouterr().err
    assert plot.main([str(tmp_path / "r"), "--out", str(tmp_path / "x.jpeg")]) == 2
    assert capsys.readouterr().err.startswith("error: --out: a .png, .svg or .pdf file")
