"""Learning tests: real training runs that must reach a return threshold."""

import os

import numpy as np
import pytest

from actor.evaluate import evaluate
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


@pytest.mark.parametrize("method", ["q1step", "sarsa", "qnstep"])
def test_value_method_cartpole_greedy_reaches_195(tmp_path, method):
    """Train with 2 actors, then play the learner's final weights greedily: the actors' own
    returns are lowered by exploration (some actors keep epsilon 0.5)."""
    cfg = config_lib.load(os.path.join(ROOT, "configs", f"cartpole_{method}.yaml"),
                          {"run.dir": str(tmp_path), "actor.count": 2})
    summary = train(cfg, quiet=True)
    assert summary["frames"] >= cfg.total_frames, summary
    returns = evaluate(cfg, summary["checkpoint"], episodes=20)
    print(method, summary, returns)
    assert len(returns) == 20
    assert np.mean(returns) >= 195.0, f"{method}: greedy mean {np.mean(returns):.1f} over 20 episodes: {returns}"


def test_a3c_vtrace_cartpole_reaches_475(tmp_path):
    cfg = config_lib.load(
        os.path.join(ROOT, "configs", "cartpole_a3c.yaml"),
        {"run.dir": str(tmp_path), "run.stop_at_return": 475.0, "run.stop_window": 20, "actor.count": 2,
         "learner.correction": "vtrace"},
    )
    summary = train(cfg, quiet=True)
    assert summary["solved_at"] is not None, f"did not reach 475 in {cfg.total_frames} frames: {summary}"


@pytest.mark.slow  # 4-10 minutes: make test-slow
def test_a3c_lstm_masked_cartpole_reaches_475(tmp_path):
    """CartPole without velocities: only an agent with memory can balance the pole for 500 steps.
    The actors' last 20 episodes must average 475 within the config's 8M frames; then the saved
    weights, sampling from the policy as the actors (and `play`, for A3C) do, must balance the pole
    far longer than any memoryless policy (the feed-forward A3C on the same task stays near 43,
    benchmarks/RESULTS.md): 150, 3.5x that. Not greedily: the argmax of a just-solved LSTM policy
    swings between 200 and 500 from run to run. Not at 475 either: the last 20 episodes were played
    by weights up to ~50 updates older than the saved ones, and at lr 5e-3 the policy still swings;
    sampled play of the saved weights has given 416-438 and, once, 204 (its last 100 episodes: 314)."""
    cfg = config_lib.load(
        os.path.join(ROOT, "configs", "cartpole_a3c_lstm.yaml"),
        {"run.dir": str(tmp_path), "run.stop_at_return": 475.0, "run.stop_window": 20, "actor.count": 2},
    )
    assert cfg.env.obs_wrapper == "mask_velocity" and cfg.model.core == "lstm"
    summary = train(cfg, quiet=True)
    returns = evaluate(cfg, summary["checkpoint"], episodes=20, greedy=False)
    print(summary, returns)
    assert summary["solved_at"] is not None, f"did not reach 475 in {cfg.total_frames} frames: {summary}"
    assert summary["mean_return_last_20"] >= 475.0
    assert np.mean(returns) >= 150.0, f"sampled mean {np.mean(returns):.1f} over 20 episodes: {returns}"
