"""Train CartPole-v1 (the whole budget), then play the saved weights with `python -m actor.play`: a mean of 475+."""

import re

from learning_utils import learning_config

from actor import play
from learner.train import train


def test_cartpole_trained_to_475_plays_475_from_the_saved_file(tmp_path, capsys):
    # The whole 2M-frame budget (about 80 s), as `make train` runs it: the file a user keeps is the
    # final one, so it is the one that must play well.
    cfg = learning_config(tmp_path, "cartpole_a3c")
    summary = train(cfg, quiet=True)
    assert summary.frames >= cfg.total_frames, summary
    capsys.readouterr()
    # The run folder as a user passes it: its config.json and checkpoints/latest.weights.h5.
    assert play.main([cfg.run_path, "--episodes", "10", "--seed", "1", "--greedy"]) == 0
    out = capsys.readouterr().out
    assert "greedy" in out.splitlines()[0]
    scores = [float(s) for s in re.findall(r"^episode +\d+: score +([\d.]+)", out, re.M)]
    assert len(scores) == 10
    mean = float(re.search(r"^10 episodes: mean ([\d.]+),", out, re.M).group(1))
    assert abs(mean - sum(scores) / 10) < 0.05, out
    assert mean >= 475.0, f"last 100 episodes in training {summary.mean_return_last_100}; played: {out}"
