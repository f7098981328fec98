"""The Pong models shipped in models/: each is its preset's own run; each wins a game in its training env."""

import json
import os
import re
import subprocess
import sys

import pytest

from benchmarks import time_to_score
from common import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = ["pong_a3c"]  # models/<name>/<name>.weights.h5, trained with configs/<name>.yaml


def _model_dir(name: str) -> str:
    return os.path.join(ROOT, "models", name)


def _weights(name: str) -> str:
    return os.path.join("models", name, f"{name}.weights.h5")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_files_are_there_and_small(name):
    for f in (f"{name}.weights.h5", "config.json", "README.md", "metrics.csv"):
        assert os.path.isfile(os.path.join(_model_dir(name), f)), f
    assert os.path.getsize(os.path.join(ROOT, _weights(name))) < 8_000_000  # a few MB (the paper's network: 2.7 MB)
    with open(os.path.join(_model_dir(name), "config.json")) as f:
        cfg = json.load(f)
    assert cfg["env"]["id"] == "ALE/Pong-v5" and cfg["name"] == name


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_equals_the_preset(name):
    """The model is the preset's own: retraining `configs/<name>.yaml` is how to get it again."""
    preset = config_lib.to_dict(config_lib.load(os.path.join(ROOT, "configs", f"{name}.yaml")))
    shipped = config_lib.to_dict(config_lib.load(os.path.join(_model_dir(name), "config.json")))
    assert shipped == preset


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_metrics_are_the_whole_run_with_its_greedy_evaluations(name):
    """metrics.csv is the run's own log: frames rise to the budget, and the in-run greedy games reach 18."""
    rows = time_to_score.read_rows(os.path.join(_model_dir(name), "metrics.csv"))
    budget = config_lib.load(os.path.join(_model_dir(name), "config.json")).total_frames
    frames = [r["charts/frames"] for r in rows]
    assert frames == sorted(frames) and frames[-1] >= 0.99 * budget
    assert time_to_score.first_reach(rows, 18.0) is not None


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_pong_model_wins_a_greedy_game_in_its_training_env(name):
    # One full game (1,700-2,500 agent steps: a few seconds, plus ~5 s to start), greedy, in the env the
    # model was trained in (sticky actions 0.25, up to 30 no-ops; play's default seed 0). Each model
    # scored 18+ on average over 30 such games (models/<name>/README.md); winning by 10 or more is out of
    # reach of an untrained or mismatched model (about -21).
    proc = subprocess.run(
        [sys.executable, "-m", "actor.play", _weights(name), "--greedy", "--episodes", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    algorithm = config_lib.load(os.path.join(_model_dir(name), "config.json")).algorithm
    assert f"{algorithm} on ALE/Pong-v5, greedy, up to 30 no-op starts, sticky actions 0.25" in first, proc.stdout
    scores = [float(s) for s in re.findall(r"^episode +\d+: score +(-?[\d.]+)", proc.stdout, re.M)]
    assert len(scores) == 1 and "cut" not in proc.stdout, proc.stdout
    assert scores[0] >= 10.0, proc.stdout
