"""A run's record of its settings: config.json as it started, resumes.jsonl for what later legs changed."""

import json
import re

import pytest

from common import config as config_lib
from common.config import ConfigError
from common.run_record import RecordError, changes, record_resume, resumes, run_config, with_resumes
from common.weights import resolve_target


def _run(tmp_path, **top):
    """A run folder with a config.json (CartPole, 2 actors) and a latest checkpoint file."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.weights.h5").write_bytes(b"x")
    cfg = config_lib.from_dict({"name": "run", "env": {"id": "CartPole-v1"}, "actor": {"count": 2}, **top})
    config_lib.save(cfg, str(run / "config.json"))
    return run


def test_changes_lists_each_changed_field_old_and_new_but_not_where_the_run_lives():
    before = config_lib.to_dict(config_lib.from_dict({"name": "a", "total_frames": 100}))
    after = config_lib.from_dict({"name": "b", "total_frames": 200, "run": {"dir": "elsewhere"}})
    after = config_lib.to_dict(config_lib.from_dict(config_lib.to_dict(after), {"model.mlp_hidden": [8, 8]}))
    assert changes(before, after) == {"total_frames": [100, 200], "model.mlp_hidden": [[64, 64], [8, 8]]}
    assert changes(before, before) == {}


def test_the_settings_in_force_are_config_json_with_every_leg_applied_in_order(tmp_path):
    run = _run(tmp_path)
    started = (run / "config.json").read_bytes()
    record_resume(str(run), 5_000, {"actor.count": [2, 4], "total_frames": [10_000_000, 20_000]})
    record_resume(str(run), 20_000, {"actor.count": [4, 1]})
    assert [leg["frames"] for leg in resumes(str(run))] == [5_000, 20_000]
    assert (run / "config.json").read_bytes() == started
    ended = run_config(str(run))
    assert (ended["actor"]["count"], ended["total_frames"]) == (1, 20_000)
    assert with_resumes({"actor": {"count": 2}}, str(tmp_path / "no-run")) == {"actor": {"count": 2}}
    # Every reader of a run's config.json (play, evaluate, export, plot) goes through config.load or run_config.
    cfg = config_lib.load(str(run / "config.json"))
    assert (cfg.actor.count, cfg.total_frames) == (1, 20_000)
    played, weights = resolve_target(str(run), None, None, {})
    assert (played.actor.count, played.total_frames) == (1, 20_000) and weights.endswith("latest.weights.h5")


@pytest.mark.parametrize(
    "line, says",
    [
        ("{not json", "line 2 is not JSON"),
        ('{"frames": 1}', "line 2 holds no 'changes' mapping"),
        ('{"frames": 1, "changes": {"actor.count": 4}}', "'actor.count' is not [old, new]"),
        ('{"frames": 1, "changes": {"seed.x": [0, 1]}}', "'seed.x' is not a config field"),
    ],
)
def test_a_damaged_resumes_file_is_one_line(tmp_path, line, says):
    run = _run(tmp_path)
    (run / "resumes.jsonl").write_text('{"frames": 0, "changes": {}}\n' + line + "\n")
    with pytest.raises(RecordError, match=re.escape(says)):
        run_config(str(run))
    with pytest.raises(ConfigError, match=re.escape(f"config file '{run / 'config.json'}': ") + ".*" + re.escape(says)):
        config_lib.load(str(run / "config.json"))


def test_a_run_without_resumes_is_read_as_its_config_json(tmp_path):
    run = _run(tmp_path, total_frames=1234)
    assert run_config(str(run)) == json.loads((run / "config.json").read_text())
    assert config_lib.load(str(run / "config.json")).total_frames == 1234
