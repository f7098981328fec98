"""Checkpoints: the training state round-trips, old pairs are pruned, writes are atomic, resume skips damage."""

import os

import numpy as np
import pytest

from common.config import ConfigError, LearnerConfig, ModelConfig
from common.env import EnvSpec
from common.model import build_model
from learner.checkpoint import Counters, checkpoint_frames, checkpoint_weights, resume_checkpoint, save_checkpoint
from learner.train_step import init_state, make_lr_schedule, make_optimizer, write_back

SPEC = EnvSpec(obs_shape=(4,), obs_dtype="float32", num_actions=2, frames_per_step=1)


def _setup(seed, algorithm="q_nstep"):
    model = build_model(SPEC, ModelConfig(torso="mlp", mlp_hidden=(8,)), seed=seed, algorithm=algorithm)
    cfg = LearnerConfig()
    optimizer = make_optimizer(cfg, make_lr_schedule(cfg, 1000))
    state = init_state(model, optimizer, with_target=algorithm != "a3c")
    return model, optimizer, state


def _scrambled(state, rng):
    """A state whose every array differs from a fresh one, as after training (the optimizer's step count too)."""
    return state._replace(
        trainable=[v + rng.normal(size=v.shape).astype(np.float32) for v in state.trainable],
        optimizer=[v + np.asarray(rng.integers(1, 50), v.dtype) for v in state.optimizer],
        target=[v - 1.0 for v in state.target],
    )


def _save(tmp_path, model, optimizer, state, frames, keep=2):
    write_back(state, model, optimizer)
    counters = Counters(
        frames=frames, updates=frames // 10, episodes=7, elapsed_s=12.5, actor_seed_base=3, returns=[1.0, 2.5, 9.0]
    )
    return save_checkpoint(str(tmp_path), model, optimizer, state.target, counters, keep=keep)


def test_state_round_trips_and_old_pairs_are_pruned(tmp_path):
    model, optimizer, state = _setup(seed=1)
    rng = np.random.default_rng(0)
    for frames in (100, 200, 300):
        state = _scrambled(state, rng)
        _save(tmp_path, model, optimizer, state, frames, keep=2)
    assert checkpoint_frames(str(tmp_path)) == [300, 200]
    assert checkpoint_weights(str(tmp_path)) == [str(tmp_path / f"{n}.weights.h5") for n in (200, 300)]  # oldest first
    assert sorted(os.listdir(tmp_path)) == [
        "200.state.h5",
        "200.weights.h5",
        "300.state.h5",
        "300.weights.h5",
        "latest.state.h5",
        "latest.weights.h5",
    ]

    fresh_model, fresh_opt, fresh_state = _setup(seed=2)  # different initial weights
    resumed = resume_checkpoint(str(tmp_path), fresh_model, fresh_opt, True, "CartPole-v1")
    c = resumed.counters
    assert (c.frames, c.updates, c.episodes, c.elapsed_s, c.actor_seed_base, c.returns) == (
        300,
        30,
        7,
        12.5,
        3,
        [1.0, 2.5, 9.0],
    )
    for name in ("trainable", "optimizer", "target"):
        got, want = getattr(resumed.state, name), getattr(state, name)
        assert len(got) == len(want) > 0
        for a, b in zip(got, want):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    # The learning-rate schedule position is the optimizer's iteration count, restored with it.
    assert int(fresh_opt.iterations.numpy()) == int(np.asarray(state.optimizer[0]))


def test_crash_mid_write_leaves_latest_whole(tmp_path, monkeypatch):
    model, optimizer, state = _setup(seed=1)
    _save(tmp_path, model, optimizer, state, 100)
    before = open(tmp_path / "latest.weights.h5", "rb").read()

    def dies_halfway(path, *args, **kwargs):  # a write that stops after some bytes, like a kill mid-save
        with open(path, "wb") as fh:
            fh.write(before[: len(before) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save_weights", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        _save(tmp_path, model, optimizer, _scrambled(state, np.random.default_rng(1)), 200)
    assert open(tmp_path / "latest.weights.h5", "rb").read() == before
    assert checkpoint_frames(str(tmp_path)) == [100]  # the half-written pair is not a checkpoint
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp")]


def test_resume_skips_a_damaged_newest_checkpoint(tmp_path):
    model, optimizer, state = _setup(seed=1)
    _save(tmp_path, model, optimizer, state, 100)
    _save(tmp_path, model, optimizer, _scrambled(state, np.random.default_rng(1)), 200)
    path = tmp_path / "200.state.h5"
    data = path.read_bytes()
    os.remove(tmp_path / "latest.state.h5")  # the hard link would keep the old bytes alive otherwise
    path.write_bytes(data[: len(data) // 3])  # e.g. a disk that filled up
    (tmp_path / ".tmp-4242-300.weights.h5").write_bytes(b"\x89HDF half")  # left by a kill -9 mid-write
    lines = []
    resumed = resume_checkpoint(str(tmp_path), *_setup(seed=2)[:2], True, "CartPole-v1", log=lines.append)
    assert resumed.counters.frames == 100
    assert len(lines) == 1 and "skipping checkpoint 200" in lines[0] and "truncated" in lines[0]
    assert not (tmp_path / ".tmp-4242-300.weights.h5").exists()


def test_resume_without_checkpoint_is_a_config_error(tmp_path):
    model, optimizer, _ = _setup(seed=1)
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        resume_checkpoint(str(tmp_path), model, optimizer, True, "CartPole-v1")


def test_resume_skips_a_checkpoint_with_non_finite_weights(tmp_path):
    model, optimizer, state = _setup(seed=1)
    good = _scrambled(state, np.random.default_rng(0))
    _save(tmp_path, model, optimizer, good, 100, keep=3)
    bad = good._replace(trainable=[np.full_like(v, np.nan) for v in good.trainable])
    _save(tmp_path, model, optimizer, bad, 200, keep=3)
    fresh_model, fresh_opt, _ = _setup(seed=2)
    lines = []
    resumed = resume_checkpoint(str(tmp_path), fresh_model, fresh_opt, True, "CartPole-v1", log=lines.append)
    assert resumed.counters.frames == 100
    assert any("skipping checkpoint 200" in line and "non-finite" in line for line in lines)
    for a, b in zip(resumed.state.trainable, good.trainable):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_resume_falls_back_from_a_state_file_with_a_malformed_attribute(tmp_path):
    import h5py

    model, optimizer, state = _setup(seed=1)
    _save(tmp_path, model, optimizer, state, 100, keep=3)
    _save(tmp_path, model, optimizer, _scrambled(state, np.random.default_rng(1)), 200, keep=3)
    os.remove(tmp_path / "latest.state.h5")  # unlink the hard link before editing the file in place
    with h5py.File(tmp_path / "200.state.h5", "r+") as fh:
        fh.attrs["frames"] = "two hundred"
    lines = []
    resumed = resume_checkpoint(str(tmp_path), *_setup(seed=2)[:2], True, "CartPole-v1", log=lines.append)
    assert resumed.counters.frames == 100
    assert len(lines) == 1 and "skipping checkpoint 200" in lines[0]


def test_a_damaged_pair_is_set_aside_and_never_crowds_out_new_checkpoints(tmp_path):
    model, optimizer, state = _setup(seed=1)
    _save(tmp_path, model, optimizer, state, 100, keep=1)
    _save(tmp_path, model, optimizer, state, 200, keep=2)
    os.remove(tmp_path / "latest.weights.h5")
    (tmp_path / "200.weights.h5").write_bytes(b"not hdf5")
    resumed = resume_checkpoint(str(tmp_path), model, optimizer, True, "CartPole-v1", log=lambda line: None)
    assert resumed.counters.frames == 100
    assert (tmp_path / "damaged-200.weights.h5").exists() and (tmp_path / "damaged-200.state.h5").exists()
    assert checkpoint_frames(str(tmp_path)) == [100]
    assert (tmp_path / "latest.weights.h5").read_bytes() == (tmp_path / "100.weights.h5").read_bytes()
    _save(tmp_path, model, optimizer, state, 150, keep=1)  # keep 1: the new pair stays, the old one goes
    assert checkpoint_frames(str(tmp_path)) == [150]


def test_a_full_disk_is_one_error_and_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    import errno

    from learner import checkpoint as ckpt

    model, optimizer, state = _setup(seed=1)
    _save(tmp_path, model, optimizer, state, 100)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_state", full_disk)
    with pytest.raises(ckpt.CheckpointError, match=r"at 200 frames .*No space left on device.*previous one stays"):
        _save(tmp_path, model, optimizer, _scrambled(state, np.random.default_rng(1)), 200)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no lone 200.weights.h5
