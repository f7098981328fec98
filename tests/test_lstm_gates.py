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
RESETS = np.zeros(OBS.shape[:2], bool)  # [N, T]
RESETS[1, 12] = True  # the second stream's episode ends after its 12th screen


def cell_weights(model):
    return [np.asarray(w) for w in model.get_layer("lstm").cell.get_weights()]


def test_numpy_scan_gives_the_models_state_and_logits():
    model = build_model(PIXELS, CFG)
    logits, _, h_end, c_end = model([OBS, RESETS.astype(np.float32), *initial_core(model, 2)])  # [N, T, A], ..., [N, H]
    feats = np.asarray(model.get_layer("torso").layer(OBS.reshape(-1, *OBS.shape[2:]))).reshape(2, 30, -1)  # [N, T, F]
    h, c, z = lstm_gates.lstm_scan(feats, RESETS, *cell_weights(model))
    w, b = [np.asarray(x) for x in model.get_layer("policy_logits").get_weights()]
    assert z.shape == (2, 30, 4 * 16)
    np.testing.assert_allclose(h[:, -1], h_end, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(c, c_end, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h @ w + b, logits, rtol=1e-4, atol=1e-7)


def test_a_gate_pinned_open_is_counted_and_h_stops_following_the_screen():
    model = build_model(PIXELS, CFG)
    fresh = lstm_gates.inspect(model, OBS, RESETS)
    kernel, recurrent, bias = cell_weights(model)
    model.get_layer("lstm").cell.set_weights([kernel, recurrent, np.full_like(bias, 50.0)])
    pinned = lstm_gates.inspect(model, OBS, RESETS)  # every gate open: c grows by tanh(50) = 1 a step
    assert fresh["gate_open"] == fresh["gate_shut"] == [0.0] * 4 and fresh["h_spread"] > 0
    assert pinned["gate_open"] == [1.0] * 4 and pinned["gate_shut"] == [0.0] * 4
    assert pinned["h_spread"] < 1e-6 < fresh["h_spread"] and pinned["logits_spread"] < 1e-6


def test_spreads_are_over_screens_not_over_actions():
    model = build_model(PIXELS, CFG)
    head = model.get_layer("policy_logits")
    kernel, _ = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.arange(6, dtype=np.float32)])  # logits differ by action only
    assert lstm_gates.inspect(model, OBS, RESETS)["logits_spread"] == 0.0
