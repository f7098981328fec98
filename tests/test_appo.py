"""APPO on the algorithm seam: its object in the registry, the settings it refuses, its optimizer, and the
train step's K x M optimizer steps per batch."""

import os
import re

import keras
import numpy as np
import pytest

from common import algorithms
from common.config import ConfigError, LearnerConfig, ModelConfig, from_dict
from common.env import EnvSpec
from common.model import build_model
from common.transport import unroll_fields
from learner.train_step import init_state, make_lr_schedule, make_optimizer, make_train_step

CARTPOLE = EnvSpec((4,), "float32", 2, 1)


def test_appo_is_registered_with_a3cs_model_and_acting():
    appo, a3c = algorithms.get("appo"), algorithms.get("a3c")
    assert appo.name == "appo" and appo.family == "appo"
    assert (appo.heads, appo.model_prefix, appo.head_sizes(6)) == (a3c.heads, a3c.model_prefix, a3c.head_sizes(6))
    assert not (appo.uses_epsilon or appo.uses_target_network or appo.greedy_by_default)
    assert appo.unroll_fields(8) == {}
    assert appo.epochs_and_minibatches(LearnerConfig(epochs=3, minibatches=4)) == (3, 4)
    cfg = from_dict({"algorithm": "appo", "env": {"num_envs": 8}, "learner": {"epochs": 4, "minibatches": 4}})
    schedule = appo.schedule(cfg, frames_per_step=1)
    assert schedule.optimizer_steps_per_batch == 16 and schedule.optimizer_steps(10) == 160


@pytest.mark.parametrize(
    "settings,message",
    [
        (
            {"algorithm": "appo", "env": {"num_envs": 6}, "learner": {"batch_unrolls": 1, "minibatches": 4}},
            "learner.minibatches: 4 must divide the batch's 6 env streams (learner.batch_unrolls 1 x env.num_envs 6)",
        ),
        (
            {"algorithm": "a3c", "learner": {"epochs": 2}},
            "learner.epochs, learner.minibatches: a3c takes one optimizer step per batch, not 2 x 1",
        ),
        (
            {"algorithm": "q_nstep", "learner": {"minibatches": 2}},
            "learner.epochs, learner.minibatches: q_nstep takes one optimizer step per batch, not 1 x 2",
        ),
        ({"algorithm": "appo", "learner": {"clip_ratio": 1.0}}, "learner.clip_ratio: must be < 1.0"),
        ({"algorithm": "appo", "learner": {"optimizer": "sgd"}}, "learner.optimizer: 'sgd' is not allowed"),
    ],
)
def test_settings_appo_or_the_others_cannot_use_are_one_line_errors(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        from_dict(settings)
    assert "\n" not in str(info.value)


def test_appo_takes_epochs_and_minibatches_that_divide_the_batch():
    cfg = from_dict({"algorithm": "appo", "env": {"num_envs": 6}, "learner": {"batch_unrolls": 2, "minibatches": 4}})
    assert (cfg.learner.epochs, cfg.learner.minibatches) == (1, 4)  # 12 streams in 4 parts of 3


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_the_optimizer_is_the_configs_with_the_gradient_clip(name):
    cfg = LearnerConfig(optimizer=name, adam_epsilon=1e-6, max_grad_norm=0.5, anneal_lr=False, learning_rate=3e-4)
    optimizer = make_optimizer(cfg, make_lr_schedule(cfg, 10), "appo")
    kind = keras.optimizers.Adam if name == "adam" else keras.optimizers.RMSprop
    assert type(optimizer) is kind and optimizer.global_clipnorm == 0.5
    assert optimizer.epsilon == (1e-6 if name == "adam" else cfg.rms_epsilon)
    assert float(optimizer.learning_rate) == pytest.approx(3e-4)


def cartpole_batch(B, T, E, seed=0):
    """A batch of B unrolls of E CartPole-shaped streams: random observations, episodes ending inside."""
    rng = np.random.default_rng(seed)
    fields = unroll_fields(CARTPOLE.obs_shape, CARTPOLE.obs_dtype, CARTPOLE.num_actions, T, E, "appo")
    batch = {}
    for k, (shape, dtype) in fields.items():
        if np.dtype(dtype) == np.bool_:
            batch[k] = rng.random((B, *shape)) < 0.1
        elif k == "actions":
            batch[k] = rng.integers(0, CARTPOLE.num_actions, (B, *shape)).astype(dtype)
        elif k == "rewards":
            batch[k] = np.ones((B, *shape), dtype)
        else:
            batch[k] = rng.normal(size=(B, *shape)).astype(dtype)
    return batch


def test_a_batch_gives_epochs_times_minibatches_adam_steps():
    B, T, E, K, M = 2, 8, 4, 3, 2
    cfg = LearnerConfig(epochs=K, minibatches=M, optimizer="adam", learning_rate=1e-3, max_grad_norm=0.5)
    model = build_model(CARTPOLE, ModelConfig(torso="mlp", mlp_hidden=(16,)), seed=0, algorithm="appo")
    optimizer = make_optimizer(cfg, make_lr_schedule(cfg, 100), "appo")
    state = init_state(model, optimizer)
    before = [np.asarray(w) for w in state.trainable]
    step = make_train_step(model, optimizer, cfg, E, T, "appo")
    for n in (1, 2):
        state, metrics = step(state, cartpole_batch(B, T, E, seed=n), np.float32(0.01))
        assert int(state.optimizer[0]) == n * K * M  # the optimizer's iterations: the learning-rate schedule's
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert {"losses/total", "appo/clip_fraction", "appo/approx_kl"} <= set(metrics)
    assert float(metrics["learner/skipped_update"]) == 0.0
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, state.trainable))


def test_the_prologue_reads_the_weights_before_the_first_step():
    """old_values: V of every sample with the pre-update weights; the advantages' statistics: the whole batch's
    (V-trace over the batch's streams at once), whatever the chunk size."""
    import jax.numpy as jnp

    from common.algorithms.appo.loss import vtrace_advantages_fn
    from learner.train_step import TIMED_FIELDS, make_prologue

    B, T, E = 2, 6, 4
    cfg = LearnerConfig(value_clip=0.2, microbatch_samples=2 * (T + 1))  # chunks of 2 streams
    model = build_model(CARTPOLE, ModelConfig(torso="mlp", mlp_hidden=(16,)), seed=0, algorithm="appo")
    state = init_state(model, make_optimizer(cfg, make_lr_schedule(cfg, 10), "appo"))
    batch = cartpole_batch(B, T, E)
    fields, scalars = make_prologue(model, cfg, algorithms.get("appo"), 2, ())(state, batch)

    logits, values = model.predict(batch["obs"].reshape(-1, 4), verbose=0)
    logits, values = logits.reshape(B, T + 1, E, 2), values.reshape(B, T + 1, E)
    np.testing.assert_allclose(np.asarray(fields["old_values"]), values[:, :T], rtol=1e-5, atol=1e-6)

    def streams(x):  # [B, T(+1), E, ...] -> [T(+1), B * E, ...]
        return np.swapaxes(x, 0, 1).reshape(x.shape[1], B * E, *x.shape[3:])

    flat = {k: streams(batch[k]) for k in TIMED_FIELDS}
    logits, values = streams(logits), streams(values)
    args = (flat["actions"], flat["rewards"], flat["dones"], flat["behaviour_logits"])
    _, advantages = vtrace_advantages_fn(logits[:-1], values[:-1], values[-1], *args, gamma=cfg.gamma)
    np.testing.assert_allclose(float(scalars["advantage_mean"]), float(jnp.mean(advantages)), rtol=1e-5)
    np.testing.assert_allclose(float(scalars["advantage_square_mean"]), float(jnp.mean(advantages**2)), rtol=1e-5)


@pytest.mark.parametrize("normalize,value_clip", [(False, None), (True, None), (False, 0.5)])
def test_the_prologue_runs_only_for_what_the_loss_uses(normalize, value_clip):
    model = build_model(CARTPOLE, ModelConfig(torso="mlp", mlp_hidden=(16,)), seed=0, algorithm="appo")
    cfg = LearnerConfig(normalize_advantages=normalize, value_clip=value_clip)
    prologue = algorithms.get("appo").make_batch_prologue(model, cfg)
    if not normalize and value_clip is None:
        assert prologue is None
        return
    chunk = {k: v[0] for k, v in cartpole_batch(1, 4, 2).items()}  # one unroll: [T(+1), E, ...], time-major
    fields, scalars = prologue([v.value for v in model.trainable_variables], [], chunk)
    assert set(fields) == ({"old_values"} if value_clip else set())
    assert set(scalars) == ({"advantage_mean", "advantage_square_mean"} if normalize else set())


def test_an_appo_run_folder_plays_evaluates_and_exports(tmp_path, capsys):
    """APPO's weights go where A3C's go: `actor.play` (sampling from the policy, or greedy), `actor.evaluate`,
    `learner.export`."""
    from actor import play
    from actor.evaluate import evaluate
    from common import config as config_lib
    from common.env import probe_spec
    from learner import export

    cfg = from_dict({"name": "r", "algorithm": "appo", "model": {"mlp_hidden": [8]}, "run": {"dir": str(tmp_path)}})
    os.makedirs(tmp_path / "r" / "checkpoints")
    config_lib.save(cfg, str(tmp_path / "r" / "config.json"))
    weights = str(tmp_path / "r/checkpoints/latest.weights.h5")
    build_model(probe_spec(cfg.env), cfg.model, seed=0, algorithm="appo").save_weights(weights)

    assert play.main([str(tmp_path / "r"), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "sampling from the policy" in out.splitlines()[0] and out.splitlines()[-1].startswith("2 episodes: mean ")
    returns = evaluate(cfg, weights, episodes=3)  # greedy
    assert len(returns) == 3 and all(r >= 1 for r in returns)
    assert export.main([str(tmp_path / "r"), "--out", str(tmp_path / "appo.keras")]) == 0
    assert (
        play.main([str(tmp_path / "appo.keras"), "--config", str(tmp_path / "r/config.json"), "--episodes", "1"]) == 0
    )
