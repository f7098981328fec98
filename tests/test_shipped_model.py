"""The trained Pong model shipped in models/pong_a3c/: played with `make play`'s flags, it wins a game."""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "models", "pong_a3c")
WEIGHTS = os.path.join("models", "pong_a3c", "pong_a3c.weights.h5")


def test_shipped_files_are_there_and_small():
    for name in ("pong_a3c.weights.h5", "config.json", "README.md"):
        assert os.path.isfile(os.path.join(MODEL_DIR, name)), name
    assert os.path.getsize(os.path.join(ROOT, WEIGHTS)) < 5_000_000  # a few MB, as committed
    with open(os.path.join(MODEL_DIR, "config.json")) as f:
        cfg = json.load(f)
    assert cfg["env"]["id"] == "ALE/Pong-v5" and cfg["algorithm"] == "a3c"


def test_shipped_pong_model_wins_a_greedy_game():
    # One full game (1,700-2,100 agent steps: 2-3 s, plus ~5 s to start) with `make play`'s flags: greedy,
    # under DQN's no-op starts protocol (up to 30 no-ops, no sticky actions). The model averaged 19.7 over
    # 10 such games and 19.9 over 30, min 18 (models/pong_a3c/README.md); 15 or more is a 21-6 win that
    # an untrained or mismatched model (about -21) cannot reach.
    proc = subprocess.run(
        [sys.executable, "-m", "actor.play", WEIGHTS, "--greedy", "--sticky", "0", "--episodes", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "a3c on ALE/Pong-v5, greedy, up to 30 no-op starts, sticky actions 0.0" in first, proc.stdout
    scores = [float(s) for s in re.findall(r"^episode +\d+: score +(-?[\d.]+)", proc.stdout, re.M)]
    assert len(scores) == 1 and "cut" not in proc.stdout, proc.stdout
    assert scores[0] >= 15.0, proc.stdout
