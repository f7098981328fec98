"""benchmarks/lstm_gates.py: its NumPy LSTM is the model's own, and its figures read the model."""

import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import lstm_gates  # noqa: E402

from common.config import ModelConfig  # noqa: E402
from common.env import EnvSpec  # noqa: E402
from common.model import build_model, initial_core  # noqa: E402

PIXELS = EnvSpec(obs_shape=(4, 84, 84), obs_dtype="uint8", num_actions=6, frames_per_step=4)
CFG = ModelConfig(torso="nature", core="lstm", lstm_size=16)
OBS = np.random.default_rng(0).integers(0, 256, (2, 30, 4, 84, 84), dtype=np.uint8)  # [N, T, stack, H, W]


def test_numpy_scan_gives_the_models_logits():
    model = build_model(PIXELS, CFG)
    logits = np.asarray(model([OBS, np.zeros(OBS.shape[:2], np.float32), *initial_core(model, 2)])[0])  # [N, T, A]
    feats = np.asarray(model.get_layer("torso").layer(OBS.reshape(-1, *OBS.shape[2:]))).reshape(2, 30, -1)
    h, z = lstm_gates.lstm_scan(feats, *[np.asarray(w) for w in model.get_layer("lstm").cell.get_weights()])
    w, b = [np.asarray(x) for x in model.get_layer("policy_logits").get_weights()]
    assert z.shape == (2, 30, 4 * 16)
    np.testing.assert_allclose(h @ w + b, logits, atol=1e-5)


def test_a_saturated_output_gate_is_counted_and_h_stops_following_the_screen():
    model = build_model(PIXELS, CFG)
    fresh = lstm_gates.inspect(model, OBS)
    cell = model.get_layer("lstm").cell
    kernel, recurrent, bias = cell.get_weights()
    bias[:] = 50.0  # every gate pinned open: c grows by tanh(50) = 1 a step whatever the screen
    cell.set_weights([kernel, recurrent, bias])
    pinned = lstm_gates.inspect(model, OBS)
    assert fresh["gate_saturated"] == [0.0, 0.0, 0.0, 0.0] and fresh["h_spread"] > 0
    assert pinned["gate_saturated"] == [1.0, 1.0, 1.0, 1.0]
    assert pinned["h_spread"] < 1e-6 < fresh["h_spread"] and pinned["logits_spread"] < 1e-6
