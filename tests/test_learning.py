"""Learning tests: real training runs that must reach a return threshold, each on one seed (0),
judged once; each test's seed passed its repeats (benchmarks/RESULTS.md)."""

import numpy as np
import pytest
from learning_utils import learning_config

from actor.evaluate import evaluate
from learner.train import train

# Games a final file is judged over, side by side (seconds on CartPole): a drifting file's games last
# 150-500 steps, so 20 of them put its mean within about +-50 of its own (95%), 100 within about +-20.
JUDGED_GAMES = 100


def _final_file_plays(cfg, summary, label: str, bar: float) -> None:
    """The run used its whole budget, and its final file's greedy mean over JUDGED_GAMES games reaches `bar`."""
    assert summary.frames >= cfg.total_frames, summary
    returns = evaluate(cfg, summary.checkpoint, episodes=JUDGED_GAMES)
    assert len(returns) == JUDGED_GAMES
    report = f"{label}: greedy mean {np.mean(returns):.1f} over {JUDGED_GAMES} episodes: {sorted(returns)}"
    print(report)  # kept in the log of a passing run too (pytest -rP)
    assert np.mean(returns) >= bar, report


def _solves_475(tmp_path, name, **overrides):
    """The actors' last 20 episodes average 475 within the config's frames (seed 0, judged once)."""
    cfg = learning_config(tmp_path, name, **{"run.stop_at_return": 475.0, "run.stop_window": 20, **overrides})
    summary = train(cfg, quiet=True)
    assert summary.solved_at is not None and summary.mean_return_last_window >= 475.0, summary


def test_a3c_cartpole_reaches_475(tmp_path):
    _solves_475(tmp_path, "cartpole_a3c")


# The bar a final file must reach. 1-step Q's is lower: off-policy, its greedy policy keeps the pole up but
# can let the cart drift off the track late in a game: seed 0's final file of the preset has played 362-467
# greedy in 31 runs (CI's two: 362 and 390; here as low as 395), where Sarsa's and n-step Q's play 496-500.
# 300 still fails a file that collapsed late (the played 155; an early preset's 84).
FINAL_FILE_BAR = {"q1step": 300.0, "sarsa": 400.0, "qnstep": 400.0}


@pytest.mark.slow  # the whole 1.5M / 1.5M / 1M-frame budget, 2-4 minutes a method: make test-slow
@pytest.mark.parametrize("method", ["q1step", "sarsa", "qnstep"])
def test_value_method_cartpole_final_file_plays_its_bar(tmp_path, method):
    """Train with 2 actors over the whole budget, then play the learner's final weights greedily (the
    actors' own returns are lowered by exploration: some actors keep epsilon 0.5) against
    FINAL_FILE_BAR (benchmarks/RESULTS.md has every repeat behind it)."""
    cfg = learning_config(tmp_path, f"cartpole_{method}")
    _final_file_plays(cfg, train(cfg, quiet=True), method, FINAL_FILE_BAR[method])


def test_a3c_vtrace_cartpole_reaches_475(tmp_path):
    _solves_475(tmp_path, "cartpole_a3c", **{"learner.correction": "vtrace"})


@pytest.mark.slow  # 4-10 minutes a seed: make test-slow
def test_a3c_lstm_masked_cartpole_reaches_475(tmp_path):
    """CartPole without velocities: only an agent with memory can balance the pole for 500 steps.
    The actors' last 20 episodes must average 475 within the config's 8M frames; then the saved
    weights, sampling from the policy as the actors (and `play`, for A3C) do, must balance the pole
    far longer than any memoryless policy (the feed-forward A3C on the same task stays near 43,
    benchmarks/RESULTS.md): 150, 3.5x that. Not greedily: the argmax of a just-solved LSTM policy
    swings between 200 and 500 from run to run. Not at 475 either: the last 20 episodes were played
    by weights up to ~50 updates older than the saved ones, and at lr 5e-3 the policy still swings;
    sampled play of the saved weights has given 416-438 and, once, 204 (its last 100 episodes: 314)."""

    cfg = learning_config(tmp_path, "cartpole_a3c_lstm", **{"run.stop_at_return": 475.0, "run.stop_window": 20})
    assert cfg.env.obs_wrapper == "mask_velocity" and cfg.model.core == "lstm"
    summary = train(cfg, quiet=True)
    assert summary.solved_at is not None and summary.mean_return_last_window >= 475.0, summary
    returns = evaluate(cfg, summary.checkpoint, episodes=20, greedy=False)
    report = f"solved at {summary.frames:,} frames; sampled mean {np.mean(returns):.1f} over 20 episodes: {returns}"
    print(report)  # kept in the log of a passing run too (pytest -rP)
    assert np.mean(returns) >= 150.0, report


@pytest.mark.slow  # the whole 500k-frame budget, about a minute: make test-slow
def test_appo_cartpole_final_file_plays_475(tmp_path):
    """APPO over the preset's whole budget (the learning rate annealed to 0), then the final file greedily:
    seed 0 played 500.0 in every game in each of its idle repeats since the optimizer steps became separate
    calls (benchmarks/RESULTS.md); 475 fails a final file that drifted after the actors reached 475."""
    cfg = learning_config(tmp_path, "cartpole_appo")
    assert cfg.algorithm == "appo" and cfg.learner.epochs * cfg.learner.minibatches > 1
    _final_file_plays(cfg, train(cfg, quiet=True), "appo", 475.0)
