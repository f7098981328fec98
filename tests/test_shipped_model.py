"""The Pong model shipped in models/pong_a3c/: the preset's own config; it wins a game in its training env."""

import json
import os
import re
import subprocess
import sys

from common import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "models", "pong_a3c")
WEIGHTS = os.path.join("models", "pong_a3c", "pong_a3c.weights.h5")


def test_shipped_files_are_there_and_small():
    for name in ("pong_a3c.weights.h5", "config.json", "README.md"):
        assert os.path.isfile(os.path.join(MODEL_DIR, name)), name
    assert os.path.getsize(os.path.join(ROOT, WEIGHTS)) < 8_000_000  # a few MB (the Nature network: 6.8 MB)
    with open(os.path.join(MODEL_DIR, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["env"]["id"] == "ALE/Pong-v5" and cfg["algorithm"] == "a3c"


def test_shipped_config_equals_the_preset():
    """The model is the preset's own: retraining `configs/pong_a3c.yaml` is how to get it again."""
    preset = config_lib.to_dict(config_lib.load(os.path.join(ROOT, "configs", "pong_a3c.yaml")))
    shipped = config_lib.to_dict(config_lib.load(os.path.join(MODEL_DIR, "config.json")))
    assert shipped == preset


def test_shipped_pong_model_wins_a_greedy_game_in_its_training_env():
    # One full game (1,700-2,500 agent steps: a few seconds, plus ~5 s to start), greedy, in the env the
    # model was trained in (sticky actions 0.25, up to 30 no-ops; play's default seed 0). The model scored
    # 14 to 21 over 30 such games, mean 18.2 (models/pong_a3c/README.md); winning by 10 or more is out
    # of reach of an untrained or mismatched model (about -21).
    proc = subprocess.run(
        [sys.executable, "-m", "actor.play", WEIGHTS, "--greedy", "--episodes", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "a3c on ALE/Pong-v5, greedy, up to 30 no-op starts, sticky actions 0.25" in first, proc.stdout
    scores = [float(s) for s in re.findall(r"^episode +\d+: score +(-?[\d.]+)", proc.stdout, re.M)]
    assert len(scores) == 1 and "cut" not in proc.stdout, proc.stdout
    assert scores[0] >= 10.0, proc.stdout
