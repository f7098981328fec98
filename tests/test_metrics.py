"""The progress line shows what the user needs to judge a run, policy lag included."""

import math

from learner.metrics import format_duration, format_progress
from learner.progress import Progress

ROW = {
    "time/elapsed_s": 12.0,
    "charts/frames": 51_200,
    "charts/fps": 4_397.0,
    "charts/episodes": 9,
    "charts/mean_return_100": -20.8,
    "actor/policy_lag_mean": 6.0,
    "actor/policy_lag_max": 7,
    "learner/queue_size": 4,
    "learner/queue_capacity": 4,
    "losses/total": -0.2,
    "learner/stale_dropped_unrolls": 0,
}


def test_progress_line_shows_lag_and_stale_drops_only_when_there_are_some():
    line = format_progress(ROW)
    assert "frames      51,200" in line and "lag 6.0/7" in line and "queue 4/4" in line
    assert "stale" not in line
    assert "stale dropped 3" in format_progress(dict(ROW, **{"learner/stale_dropped_unrolls": 3}))


def test_progress_line_shows_the_share_of_the_budget_and_the_time_left():
    line = format_progress(dict(ROW, **{"charts/progress_pct": 2.56, "time/remaining_s": 759.0}))
    assert "frames      51,200 (2.6%, 12m39s left) |" in line
    assert "(0.0%, ? left)" in format_progress(dict(ROW, **{"charts/progress_pct": 0.0, "time/remaining_s": math.nan}))


def test_durations_read_as_hours_minutes_seconds():
    assert [format_duration(s) for s in (7, 245, 3725, math.nan)] == ["7s", "4m05s", "1h02m", "?"]


def test_time_left_comes_from_this_sessions_rate():
    p = Progress(frames=1_000, updates=0, episodes=0, returns=None, elapsed_before_s=0.0)
    p.started -= 10.0
    p.first_update_s, p.first_update_frames = 0.0, 0  # 1,000 frames in 10 s
    assert math.isclose(p.seconds_left(3_000), 20.0, rel_tol=0.05)
    assert math.isnan(Progress(0, 0, 0, None, 0.0).seconds_left(3_000))  # no frame yet
    assert p.seconds_left(500) == 0.0  # past the budget


def test_time_left_leaves_out_the_start_up_before_the_first_update():
    """A resumed run spends its first seconds spawning actors and compiling: that is not its rate."""
    p = Progress(frames=6_160, updates=0, episodes=0, returns=None, elapsed_before_s=900.0)
    p.started -= 20.0  # 10 s of start-up, first update at 5,160 frames, then 1,000 frames in 10 s
    p.first_update_s, p.first_update_frames = 10.0, 5_160
    assert math.isclose(p.seconds_left(8_160), 20.0, rel_tol=0.05)
    p.frames = p.first_update_frames  # only the first update so far: no rate yet
    assert math.isnan(p.seconds_left(8_160))
