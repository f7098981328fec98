"""`python -m learner.export`: a .keras file that plain Keras opens and that computes what the project's model does."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from common import config as config_lib
from common.config import from_dict
from common.env import probe_spec
from common.model import build_model
from learner import export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Loads the file with the project's packages made unimportable, as in a Python without it installed.
LOAD_WITHOUT_PROJECT = """
import sys
sys.modules.update(common=None, actor=None, learner=None)
import numpy as np, keras
model = keras.saving.load_model(sys.argv[1], compile=False)
outputs = model(np.load(sys.argv[2]))
outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
np.savez(sys.argv[3], *[np.asarray(o) for o in outputs])
"""


def _run_folder(tmp_path, algorithm="a3c", **model):
    cfg = from_dict(
        {
            "name": "r",
            "algorithm": algorithm,
            "env": {"id": "CartPole-v1"},
            "model": {"mlp_hidden": [8], **model},
            "run": {"dir": str(tmp_path)},
        }
    )
    os.makedirs(tmp_path / "r" / "checkpoints")
    config_lib.save(cfg, str(tmp_path / "r" / "config.json"))
    net = build_model(probe_spec(cfg.env), cfg.model, seed=3, algorithm=algorithm)
    net.save_weights(str(tmp_path / "r/checkpoints/latest.weights.h5"))
    return tmp_path / "r", cfg, net


@pytest.mark.parametrize("algorithm", ["a3c", "q_nstep", "appo"])
def test_plain_keras_opens_the_file_and_computes_the_same_outputs(tmp_path, algorithm):
    run, cfg, net = _run_folder(tmp_path, algorithm)
    out = tmp_path / "model.keras"
    assert export.main([str(run), "--out", str(out)]) == 0
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)  # [N, 4] CartPole observations
    np.save(tmp_path / "obs.npy", obs)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PROJECT, str(out), str(tmp_path / "obs.npy"), str(tmp_path / "o.npz")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, KERAS_BACKEND="jax"),
    )
    assert done.returncode == 0, done.stderr
    theirs = np.load(tmp_path / "o.npz")
    ours = net(obs)
    ours = ours if isinstance(ours, (list, tuple)) else [ours]  # a one-output model returns the array
    assert len(theirs.files) == len(ours) == (1 if algorithm == "q_nstep" else 2)
    for i, o in enumerate(ours):
        np.testing.assert_allclose(theirs[f"arr_{i}"], np.asarray(o), atol=1e-6)


def test_an_lstm_model_exports_and_plays(tmp_path, capsys):
    run, _, _ = _run_folder(tmp_path, core="lstm", lstm_size=8)
    out = tmp_path / "lstm.keras"
    assert export.main([str(run), "--out", str(out)]) == 0
    assert "import common.model" in capsys.readouterr().out  # the registered layer the file needs
    from actor import play

    assert play.main([str(out), "--config", str(run / "config.json"), "--episodes", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("2 episodes: mean ")


def test_a_bad_out_name_is_one_line(tmp_path, capsys):
    run, _, _ = _run_folder(tmp_path)
    assert export.main([str(run), "--out", str(tmp_path / "model.h5")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out: a Keras model file ends in .keras") and err.count("\n") == 1
    assert not (tmp_path / "model.h5").exists()


def test_the_command_line(tmp_path):
    run, _, _ = _run_folder(tmp_path)
    out = tmp_path / "m.keras"
    done = subprocess.run(
        [sys.executable, "-m", "learner.export", str(run), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: a3c on CartPole-v1") and out.stat().st_size > 1000


def test_a_keras_file_for_another_game_or_algorithm_is_one_line(tmp_path, capsys):
    """Every Atari model takes [N, 4, 84, 84]: the heads tell a 2-action file from a 3-action env's."""
    from common.weights import WeightsError, load_model_file

    run, cfg, _ = _run_folder(tmp_path)
    out = tmp_path / "cartpole.keras"
    assert export.main([str(run), "--out", str(out)]) == 0
    spec = probe_spec(cfg.env)
    with pytest.raises(WeightsError, match=r"has outputs of sizes \[2, 1\]; q_nstep on CartPole-v1 .* needs \[2\]"):
        load_model_file(from_dict({"algorithm": "q_nstep", "env": {"id": "CartPole-v1"}}), spec, str(out))
    three = dataclasses.replace(spec, num_actions=3)
    with pytest.raises(WeightsError, match=r"needs \[3, 1\]"):
        load_model_file(cfg, three, str(out))
