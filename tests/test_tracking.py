"""`--track` (Weights & Biases, offline here) and what every run writes to TensorBoard: config, episodes."""

import glob
import importlib.util
import os
import sys

import pytest
from proc_utils import finish, start_learner

from common.config import ConfigError, from_dict
from learner import tracking

needs_track_extra = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("wandb", "tensorboard")),
    reason="the 'track' extra (make installs it)",
)


def _tensorboard(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


@needs_track_extra
def test_track_logs_to_wandb_offline_and_tensorboard_gets_config_and_episodes(tmp_path, monkeypatch):
    """One tracked run: what every run writes to TensorBoard (config text, each game's return and length)
    and what --track sends to W&B (offline: the record log in runs/<name>/wandb/)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    proc = start_learner("--config", "configs/smoke_cartpole.yaml", "--track", run_dir=tmp_path)
    rc, out = finish(proc, timeout=240)
    assert rc == 0, out
    run = tmp_path / "smoke_cartpole"
    events = _tensorboard(run)
    returns = [e.value for e in events.Scalars("charts/episodic_return")]
    lengths = [e.value for e in events.Scalars("charts/episodic_length")]
    assert len(returns) == len(lengths) > 10 and returns == lengths  # CartPole: +1 per step
    config = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"name": "smoke_cartpole"' in config
    wandb_id = (run / tracking.ID_FILE).read_text().strip()
    (log,) = glob.glob(str(run / "wandb" / f"offline-run-*-{wandb_id}" / f"run-{wandb_id}.wandb"))
    records = open(log, "rb").read()  # wandb's record log: keys and config values are stored as text
    for key in (b"charts/mean_return_100", b"charts/episodic_return", b"losses/total", b"smoke_cartpole"):
        assert key in records, key


def test_track_without_wandb_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"run.track: Weights & Biases is not installed: pip install"):
        tracking.check_available(from_dict({"run": {"track": True}}))
    tracking.check_available(from_dict({}))  # tracking off: nothing is imported


def test_a_resumed_run_keeps_its_wandb_id(tmp_path):
    first = tracking.run_id(str(tmp_path))
    assert tracking.run_id(str(tmp_path)) == first and len(first) == 12
    assert os.path.exists(tmp_path / tracking.ID_FILE)
