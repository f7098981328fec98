import glob
import json
import os
import re

import pytest

from common import config as config_lib
from common.config import Config, ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


def test_there_are_configs():
    names = {os.path.basename(p) for p in CONFIGS}
    for required in ("cartpole_a3c.yaml", "pong_a3c.yaml", "breakout_a3c.yaml", "spaceinvaders_a3c.yaml"):
        assert required in names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_every_config_loads(path):
    cfg = config_lib.load(path)
    assert isinstance(cfg, Config)
    assert cfg.name == os.path.splitext(os.path.basename(path))[0]


def test_defaults_and_float_from_yaml_exponent(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("learner:\n  learning_rate: 7e-4\n")  # YAML 1.1 reads this as a string
    cfg = config_lib.load(str(p))
    assert cfg.learner.learning_rate == pytest.approx(7e-4)
    assert cfg.env.id == "CartPole-v1"


def test_overrides_and_frozen():
    cfg = config_lib.load(None, dict([config_lib.parse_override("learner.learning_rate=3e-4"), ("actor.count", 3)]))
    assert cfg.learner.learning_rate == pytest.approx(3e-4)
    assert cfg.actor.count == 3
    with pytest.raises(AttributeError):  # frozen dataclass: FrozenInstanceError
        cfg.actor.count = 5


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"learner.learning_rat": 1.0}, "unknown key 'learner.learning_rat' (did you mean learner.learning_rate?)"),
        ({"learner.lrr": 1.0}, "unknown key 'learner.lrr'; known keys here: batch_unrolls, learning_rate"),
        ({"bogus": 1}, "unknown key 'bogus'"),
        ({"actor.count": "many"}, "actor.count: expected an integer, got 'many'"),
        ({"actor.count": 2.5}, "actor.count: expected an integer"),
        ({"learner.learning_rate": -1.0}, "learner.learning_rate: must be > 0.0, got -1.0"),
        ({"learner.gamma": 1.5}, "learner.gamma: must be <= 1.0, got 1.5"),
        ({"env.num_envs": 0}, "env.num_envs: must be >= 1, got 0"),
        ({"env.clip_rewards": "yes"}, "env.clip_rewards: expected true or false"),
        ({"model.torso": "resnet"}, "model.torso: 'resnet' is not allowed; choose one of"),
        ({"algorithm": "ppo"}, "algorithm: 'ppo' is not allowed"),
        ({"actor.count": 0}, "actor.count: must be >= 1 unless remote.enabled"),
        (
            {"actor.count": -1},
            "actor.count: must be >= 1 unless remote.enabled (no actors means no experience), got -1",
        ),
        ({"actor.count": -1, "remote.enabled": True}, "actor.count: must be >= 0, got -1"),
        ({"remote.port": 70000}, "remote.port: must be <= 65535, got 70000"),
        ({"env": 3}, "env: expected a mapping"),
        ({"seed": -1}, "seed: must be >= 0, got -1"),
        ({"name": ""}, "name: expected a non-empty string"),
        (
            {"learner.anneal_lr": False, "learner.learning_rate_final": 1e-4},
            "learner.learning_rate_final: needs learner.anneal_lr (the rate stays at learner.learning_rate without)",
        ),
    ],
)
def test_bad_values_give_one_clear_line(overrides, message):
    with pytest.raises(ConfigError) as info:
        config_lib.load(None, overrides)
    text = str(info.value)
    assert message in text
    assert "\n" not in text


def test_no_local_actors_only_with_remote_ones():
    cfg = config_lib.load(None, {"actor.count": 0, "remote.enabled": True})
    assert cfg.actor.count == 0 and cfg.remote.enabled and cfg.remote.host == "127.0.0.1"


def test_yaml_date_name_is_a_string(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: 2024-01-01\n")
    assert config_lib.load(str(p)).name == "2024-01-01"


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        config_lib.load(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config_lib.load(str(bad))
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        config_lib.parse_override("learner.learning_rate")


def test_save_round_trips(tmp_path):
    cfg = config_lib.load(os.path.join(ROOT, "configs", "pong_a3c.yaml"))
    path = tmp_path / "config.json"
    config_lib.save(cfg, str(path))
    again = config_lib.from_dict(json.loads(path.read_text()))
    assert again == cfg


def test_every_field_is_documented():
    lines = config_lib.describe()
    assert len(lines) > 30
    assert all(line.split(": ", 1)[1].strip() for line in lines)


ALIAS_BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize(
    "text,message",
    [
        (ALIAS_BOMB, "line 3: YAML aliases (*name) are not allowed"),
        ("env: &e {id: CartPole-v1, x: *e}\n", "line 1: YAML aliases (*name) are not allowed"),  # recursive
        ("name: " + "[" * 100_000 + "]" * 100_000 + "\n", "is nested too deeply"),
    ],
)
def test_yaml_bombs_are_refused_before_expansion(tmp_path, text, message):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_lib.load(str(path))


def test_an_alias_in_an_override_is_refused():
    with pytest.raises(ConfigError, match="YAML aliases"):
        config_lib.parse_override("name=[*a]")


def test_an_oversized_config_file_is_refused(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * 2_000_000 + "\n")
    with pytest.raises(ConfigError, match="is over 1000 kB"):
        config_lib.load(str(path))


@pytest.mark.parametrize("key", ["actor.queue_slots", "env.num_envs", "remote.max_actors", "actor.count"])
def test_sizes_have_upper_bounds(key):
    with pytest.raises(ConfigError, match=rf"{re.escape(key)}: must be <= 1024"):
        config_lib.from_dict({}, {key: 10**9})


def test_unroll_buffers_that_do_not_fit_in_memory_are_refused(monkeypatch):
    from common.transport import unroll_fields
    from learner import train

    cfg = config_lib.from_dict({}, {"actor.queue_slots": 1000, "env.num_envs": 1000, "actor.count": 8})
    fields = unroll_fields((4, 84, 84), "uint8", 6, 20, 1000)  # ~590 MB per unroll
    monkeypatch.setattr(train, "available_memory_bytes", lambda: 8 * 2**30)
    with pytest.raises(ConfigError, match=r"need \d+\.\d GiB .* only 8\.0 GiB of memory is available; lower"):
        train.check_memory(cfg, fields, channels=8)
    train.check_memory(config_lib.from_dict({}), unroll_fields((4,), "float32", 2, 20, 8), channels=2)  # fits
