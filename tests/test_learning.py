"""Learning tests: real training runs that must reach a return threshold."""

import os

from common import config as config_lib
from learner.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a3c_cartpole_reaches_475(tmp_path):
    cfg = config_lib.load(
        os.path.join(ROOT, "configs", "cartpole_a3c.yaml"),
        {"run.dir": str(tmp_path), "run.stop_at_return": 475.0, "run.stop_window": 20, "actor.count": 2},
    )
    summary = train(cfg, quiet=True)
    print(summary)
    assert summary["solved_at"] is not None, f"did not reach 475 in {cfg.total_frames} frames: {summary}"
    assert summary["mean_return_last_20"] >= 475.0
