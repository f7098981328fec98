"""benchmarks/dead_units.py: dead ReLU units counted for feed-forward and LSTM pixel models alike."""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import dead_units  # noqa: E402

from common import config as config_lib  # noqa: E402
from common.env import EnvSpec  # noqa: E402
from common.model import build_model  # noqa: E402

SCREENS = np.random.default_rng(0).integers(0, 256, (6, 4, 84, 84), dtype=np.uint8)  # [N, stack, H, W]


def preset_model(preset: str):
    """A fresh model of `configs/<preset>.yaml` for 84x84 screens stacked 4 deep and 6 actions."""
    cfg = config_lib.load(os.path.join(ROOT, "configs", f"{preset}.yaml"))
    spec = EnvSpec(obs_shape=(4, 84, 84), obs_dtype="uint8", num_actions=6, frames_per_step=4)
    return build_model(spec, cfg.model, 0, cfg.algorithm)


@pytest.mark.parametrize("preset", ["breakout_a3c", "pong_a3c_lstm"])
def test_dead_counts_reads_the_torso_of_both_model_kinds(preset):
    counts = dead_units.dead_counts(preset_model(preset), SCREENS)
    assert list(counts) == ["conv1", "conv2", "conv3", "fc"]
    assert [n for _, n in counts.values()] == [32, 64, 64, 512]
    assert all(0 <= d <= n for d, n in counts.values())


def test_dead_counts_counts_a_unit_that_never_fires():
    model = preset_model("breakout_a3c")
    fc = model.get_layer("fc")
    kernel, bias = fc.get_weights()
    kernel[:, :3], bias[:3] = 0.0, -1.0  # units 0-2 output relu(-1) = 0 on every screen
    fc.set_weights([kernel, bias])
    dead, units = dead_units.dead_counts(model, SCREENS)["fc"]
    assert units == 512 and dead >= 3
