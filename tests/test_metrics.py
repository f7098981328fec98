"""The progress line shows what the user needs to judge a run, policy lag included."""

from learner.metrics import format_progress

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
