"""A3C-LSTM: the learner's unroll reproduces what the actor computed step by step.

The actor (actor.loop.run_actor, run here in-process on real CartPole envs) calls the
model one step at a time, carrying the LSTM state and zeroing it when an episode ends;
the learner (learner.train_step.make_a3c_forward) unrolls the same model over the
stored observations from the state the actor stored at the unroll's start. For the
same weights both must give the same policy logits at every step, also after an
episode ended inside the unroll.
"""

import os
import signal

import jax
import numpy as np

from actor.loop import run_actor
from common.config import from_dict, to_dict
from common.env import probe_spec
from common.model import build_model, core_size, model_variables
from common.transport import unroll_fields
from learner.train_step import make_a3c_forward

T, E, UNROLLS = 16, 4, 6


class _Stop(Exception):
    pass


class _CaptureEnd:
    """Stands in for common.transport.ActorEnd: one slot, every put copied out."""

    def __init__(self, fields, count):
        self.buffers = {k: np.zeros((1, *shape), dtype) for k, (shape, dtype) in fields.items()}
        self.unrolls, self.count = [], count

    def views(self):
        return self.buffers

    def acquire(self, timeout):
        return 0

    def put(self, slot, version):
        self.unrolls.append({k: v[slot].copy() for k, v in self.buffers.items()})
        if len(self.unrolls) == self.count:
            raise _Stop


class _FixedBoard:
    def __init__(self, arrays):
        self.arrays = arrays

    def wait(self, have_version, timeout, should_stop):
        return 0, self.arrays

    def fetch(self, have_version):
        return None


class _NeverStop:
    def is_set(self):
        return False


def _config():
    return from_dict(
        {
            "algorithm": "a3c",
            "env": {"id": "CartPole-v1", "num_envs": E, "obs_wrapper": "mask_velocity"},
            "model": {"torso": "mlp", "mlp_hidden": [16], "core": "lstm", "lstm_size": 8},
            "actor": {"unroll_length": T},
        }
    )


def test_learner_unroll_reproduces_actor_steps():
    cfg = _config()
    spec = probe_spec(cfg.env)
    model = build_model(spec, cfg.model, seed=0)
    rng = np.random.default_rng(1)
    # Large random weights: logits far from uniform and a state that matters.
    arrays = [
        np.asarray(v.value) + rng.normal(0, 0.5, v.shape).astype(np.float32) if v.trainable else np.asarray(v.value)
        for v in model_variables(model)
    ]
    fields = unroll_fields(spec.obs_shape, spec.obs_dtype, spec.num_actions, T, E, "a3c", core_size(model))
    end = _CaptureEnd(fields, UNROLLS)
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)  # run_actor installs its own
    dispatch = jax.config.values["jax_cpu_enable_async_dispatch"]  # and sets this (act_inline)
    try:
        run_actor(0, to_dict(cfg), end, _FixedBoard(arrays), _NeverStop(), 7, os.getppid())
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
        jax.config.update("jax_cpu_enable_async_dispatch", dispatch)
    assert len(end.unrolls) == UNROLLS

    forward = make_a3c_forward(model)
    n = len(model.trainable_variables)
    resets_inside = 0
    for u in end.unrolls:
        assert u["core_h"].shape == (E, 8)
        (logits, _values), _ = forward(arrays[:n], arrays[n:], {k: u[k] for k in ("obs", "dones", "core_h", "core_c")})
        logits = np.asarray(logits)  # [T+1, E, A]
        np.testing.assert_allclose(logits[:T], u["behaviour_logits"], rtol=1e-5, atol=1e-5)
        resets_inside += int(u["dones"][:-1].sum())
    # Episodes (random CartPole play lasts ~20 steps) ended inside unrolls, so the resets were exercised.
    assert resets_inside >= 3
    # And they matter: the state carried across unrolls is not zero, and ignoring the resets changes the logits.
    assert any(np.abs(u["core_h"]).max() > 0 for u in end.unrolls[1:])
    u = next(u for u in end.unrolls if u["dones"][:-1].any())
    no_resets = dict(u, dones=np.zeros_like(u["dones"]))
    (logits, _), _ = forward(arrays[:n], arrays[n:], {k: no_resets[k] for k in ("obs", "dones", "core_h", "core_c")})
    assert not np.allclose(np.asarray(logits)[:T], u["behaviour_logits"], atol=1e-3)


def test_lstm_needs_a3c_and_masked_env_shape():
    import pytest

    from common.config import ConfigError

    with pytest.raises(ConfigError, match="model.core"):
        from_dict({"algorithm": "q_nstep", "model": {"core": "lstm"}})
    spec = probe_spec(_config().env)
    assert spec.obs_shape == (2,)  # cart position and pole angle only
    with pytest.raises(ConfigError, match="obs_wrapper"):
        probe_spec(from_dict({"env": {"id": "Acrobot-v1", "obs_wrapper": "mask_velocity"}}).env)


def test_lstm_weights_are_checked_layer_by_layer(tmp_path):
    import pytest

    from common.weights import WeightsError, check_fits, load_weights

    cfg = _config()
    spec = probe_spec(cfg.env)
    path = str(tmp_path / "lstm.weights.h5")
    build_model(spec, cfg.model, seed=0).save_weights(path)
    other = build_model(spec, cfg.model, seed=1)
    load_weights(other, path, cfg.env.id)  # nested layers (TimeDistributed torso, LSTM cell) fit
    bigger = from_dict(dict(to_dict(cfg), model=dict(to_dict(cfg)["model"], lstm_size=16)))
    with pytest.raises(WeightsError, match="layer 'lstm'"):
        check_fits(build_model(spec, bigger.model, seed=0), path, cfg.env.id)
