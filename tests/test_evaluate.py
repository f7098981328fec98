"""`actor.evaluate`: every evaluation reports whole games of its own; the command's protocols, JSON and interval."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from actor import evaluate as evaluate_cli
from actor.evaluate import first_episode_returns, first_episodes, score_summary
from common.config import EnvConfig
from common.env import make_env

CFG = EnvConfig(id="CartPole-v1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LeanWithThePole:
    """A deterministic `actor.policy.Policy` stand-in with games of uneven length: push the way the pole leans."""

    def act(self, obs):
        return (obs[:, 2] > 0).astype(np.int32), None

    def end_episodes(self, done):
        pass

    def reset(self):
        pass


def alone(seed: int) -> float:
    env = make_env(CFG, 1, seed=seed)
    try:
        return first_episode_returns(env, LeanWithThePole())[0]
    finally:
        env.close()


def test_two_evaluations_on_one_env_report_the_games_played_alone():
    env = make_env(CFG, 4, seed=10)  # gymnasium seeds env i with 10 + i
    try:
        first = first_episode_returns(env, LeanWithThePole())
        second = first_episode_returns(env, LeanWithThePole())
    finally:
        env.close()
    expected = [alone(10 + i) for i in range(4)]
    assert len(set(expected)) > 1  # uneven games: the early finishers run on while the others end
    assert first == expected
    assert second == expected


def test_first_episodes_report_each_games_length():
    env = make_env(CFG, 3, seed=10)
    try:
        games = first_episodes(env, LeanWithThePole())
    finally:
        env.close()
    assert [g["env"] for g in games] == [0, 1, 2]
    assert all(g["score"] == g["length"] for g in games)  # CartPole: +1 per step


def test_score_summary_is_the_student_t_interval():
    scores = [12.0, 15.0, 19.0, 20.0, 14.0]
    s = score_summary(scores)
    x = np.array(scores)
    half = 2.7764451051977987 * x.std(ddof=1) / np.sqrt(5)  # t(0.975, 4 degrees of freedom)
    assert s["n"] == 5 and np.isclose(s["mean"], x.mean()) and np.isclose(s["std"], x.std(ddof=1))
    np.testing.assert_allclose(s["ci95"], [x.mean() - half, x.mean() + half])
    assert score_summary([3.0]) == {"n": 1, "mean": 3.0, "std": None, "ci95": None}


def _run_folder(tmp_path, env_id="CartPole-v1"):
    """A run folder holding untrained weights of a small model and its config.json."""
    from common import config as config_lib
    from common.config import from_dict
    from common.env import probe_spec
    from common.model import build_model

    cfg = from_dict({"name": "r", "env": {"id": env_id}, "model": {"mlp_hidden": [8]}, "run": {"dir": str(tmp_path)}})
    os.makedirs(tmp_path / "r" / "checkpoints")
    config_lib.save(cfg, str(tmp_path / "r" / "config.json"))
    if env_id == "CartPole-v1":
        model = build_model(probe_spec(cfg.env), cfg.model, seed=0)
        model.save_weights(str(tmp_path / "r/checkpoints/latest.weights.h5"))
    return tmp_path / "r"


@pytest.mark.parametrize("protocol, noop_max, sticky", [("training", 30, 0.25), ("noop", 30, 0.0), ("sticky", 0, 0.25)])
def test_atari_protocols_set_no_ops_and_sticky_actions(tmp_path, protocol, noop_max, sticky):
    run = _run_folder(tmp_path, "ALE/Pong-v5")
    (run / "checkpoints" / "latest.weights.h5").write_bytes(b"")  # only the config is read here
    args = evaluate_cli.parse_args([str(run), "--protocol", protocol])
    cfg, _ = evaluate_cli.protocol_config(args)
    assert (cfg.env.noop_max, cfg.env.sticky_actions, cfg.env.clip_rewards) == (noop_max, sticky, False)


def test_the_command_writes_every_game_and_the_interval(tmp_path):
    run = _run_folder(tmp_path)
    out = tmp_path / "scores.json"
    done = subprocess.run(
        [sys.executable, "-m", "actor.evaluate", str(run), "--episodes", "4", "--seed", "3", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "4 of 4 games finished: mean " in done.stdout and "95% interval" in done.stdout
    report = json.loads(out.read_text())
    assert report["protocol"] == {"name": "training", "policy": "greedy"} and report["seed"] == 3
    assert [g["env"] for g in report["episodes"]] == [0, 1, 2, 3]
    assert report["n"] == 4 and np.isclose(report["mean"], np.mean([g["score"] for g in report["episodes"]]))
    assert report["ci95"][0] <= report["mean"] <= report["ci95"][1]


def test_an_atari_protocol_on_cartpole_is_one_line(tmp_path, capsys):
    assert evaluate_cli.main([str(_run_folder(tmp_path)), "--protocol", "noop"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --protocol noop") and err.count("\n") == 1
