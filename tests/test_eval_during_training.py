"""`learner.eval_interval`: a separate greedy actor scores the learner's weights while it trains."""

import json
import math

from proc_utils import finish, metric_rows, start_learner


def test_eval_actor_logs_unclipped_greedy_returns(tmp_path):
    proc = start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--set",
        "learner.eval_interval=5000",
        "--set",
        "learner.eval_episodes=3",
        run_dir=tmp_path,
    )
    rc, out = finish(proc, timeout=240)
    assert rc == 0, out
    run = tmp_path / "smoke_cartpole"
    summary = json.loads((run / "summary.json").read_text())
    evals = summary["eval_returns"]
    assert evals, out
    for e in evals:
        assert e["frames"] > 0 and e["frames"] % 40 == 0  # the weights' own frame count (update x 40 frames)
        assert len(e["returns"]) == 3 and all(r >= 8 and r == int(r) for r in e["returns"])  # whole CartPole games
        assert math.isclose(e["mean"], sum(e["returns"]) / 3)
    assert "evaluation at" in out and "greedy episodes" in out
    rows = metric_rows(run / "metrics.csv")
    assert "eval/episodic_return" in rows[0]
    logged = [float(r["eval/episodic_return"]) for r in rows if r["eval/episodic_return"] not in ("", "nan")]
    assert logged and set(logged) <= {e["mean"] for e in evals}
