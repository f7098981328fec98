"""benchmarks/ship_model.py: a run folder becomes models/<preset>/ only when it is the preset's own whole run."""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import ship_model
from common import config as config_lib

PRESET = "cartpole_a3c"


def _run(tmp_path, *, overrides=None, last_frames=None, resume_changes=None):
    """A finished run folder of the preset as time_to_score leaves it: its own name and folder, a session
    stop at the budget, metrics to `last_frames` (default: the budget), a latest checkpoint."""
    cfg = config_lib.load(
        os.path.join(ship_model.ROOT, "configs", f"{PRESET}.yaml"),
        {"name": "screen_abc1234", "run.dir": str(tmp_path), "run.stop_at_frames": 10**9, **(overrides or {})},
    )
    run = tmp_path / "screen_abc1234"
    (run / "checkpoints").mkdir(parents=True)
    config_lib.save(cfg, str(run / "config.json"))
    (run / "checkpoints" / "latest.weights.h5").write_bytes(b"weights")
    last = cfg.total_frames if last_frames is None else last_frames
    (run / "metrics.csv").write_text(f"time/elapsed_s,charts/frames\n1.0,0\n9.0,{last}\n")
    if resume_changes is not None:
        line = {"frames": last // 2, "changes": resume_changes}
        (run / "resumes.jsonl").write_text(json.dumps(line) + "\n")
    return str(run)


def test_ships_the_weights_metrics_and_the_preset_config(tmp_path):
    run = _run(tmp_path, resume_changes={"run.stop_at_frames": [None, 10**9]})  # a bare resume by the benchmark
    out = ship_model.ship(run, PRESET, str(tmp_path / "models"))
    assert (tmp_path / "models" / PRESET / f"{PRESET}.weights.h5").read_bytes() == b"weights"
    assert (tmp_path / "models" / PRESET / "metrics.csv").read_text() == open(os.path.join(run, "metrics.csv")).read()
    shipped = config_lib.to_dict(config_lib.load(os.path.join(out, "config.json")))
    preset = config_lib.to_dict(config_lib.load(os.path.join(ship_model.ROOT, "configs", f"{PRESET}.yaml")))
    assert shipped == preset


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"overrides": {"learner.learning_rate": 0.123}},
            "differs from configs/cartpole_a3c.yaml in learner.learning_rate$",
        ),
        ({"last_frames": 1000}, "metrics.csv ends at 1,000 frames"),
        ({"resume_changes": {"learner.entropy_coef": [0.01, 0.02]}}, "a resume changed learner.entropy_coef"),
    ],
)
def test_refuses_a_run_that_is_not_the_presets_whole_run_and_writes_nothing(tmp_path, kwargs, message):
    run = _run(tmp_path, **kwargs)
    with pytest.raises(ship_model.ShipError, match=message):
        ship_model.ship(run, PRESET, str(tmp_path / "models"))
    assert not (tmp_path / "models").exists()


def test_command_line_says_why_it_refuses(tmp_path, capsys):
    run = _run(tmp_path, last_frames=5)
    assert ship_model.main([run, "--preset", PRESET, "--models-dir", str(tmp_path / "models")]) == 1
    assert "ends at 5 frames" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ship_model.main([run, "--preset", "no_such_preset"])
