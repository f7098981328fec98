"""Train CartPole-v1 to 475, then play the saved weights file with `python -m actor.play`: a mean of 475 or more."""

import os
import re


from actor import play
from common import config as config_lib
from learner.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_cartpole_trained_to_475_plays_475_from_the_saved_file(tmp_path, capsys):
    cfg = config_lib.load(
        os.path.join(ROOT, "configs", "cartpole_a3c.yaml"),
        {"run.dir": str(tmp_path), "run.stop_at_return": 475.0, "run.stop_window": 20, "actor.count": 2},
    )
    summary = train(cfg, quiet=True)
    assert summary["solved_at"] is not None, f"did not reach 475 in {cfg.total_frames} frames: {summary}"
    capsys.readouterr()
    # The run folder as a user passes it: its config.json and checkpoints/latest.weights.h5. Greedy: sampling
    # from a policy that just reached 475 still drops an occasional game to ~400 (mean 490.7 in one run).
    assert play.main([cfg.run_path, "--episodes", "10", "--seed", "1", "--greedy"]) == 0
    out = capsys.readouterr().out
    print(out)
    assert "greedy" in out.splitlines()[0]
    scores = [float(s) for s in re.findall(r"^episode +\d+: score +([\d.]+)", out, re.M)]
    assert len(scores) == 10
    mean = float(re.search(r"^10 episodes: mean ([\d.]+),", out, re.M).group(1))
    assert abs(mean - sum(scores) / 10) < 0.05 and mean >= 475.0, out
