"""The chunked train step equals one full-batch step; chunk sizes are whole streams that divide E."""

import dataclasses

import jax
import numpy as np
import pytest

from common.config import LearnerConfig, ModelConfig
from common.env import EnvSpec
from common.model import build_model
from common.transport import unroll_fields
from learner.train_step import (
    combine_metrics,
    epoch_minibatches,
    init_state,
    make_chunk_loss,
    make_lr_schedule,
    make_optimizer,
    make_train_step,
    minibatch_indices,
    streams_per_chunk,
)


@pytest.mark.parametrize(
    "E,T,target,expected",
    [(8, 20, 64, 2), (8, 20, 42, 2), (8, 20, 41, 1), (8, 5, 64, 8), (6, 9, 40, 3), (8, 20, 0, 8), (8, 20, 10, 1)],
)
def test_streams_per_chunk(E, T, target, expected):
    assert streams_per_chunk(E, T, target) == expected


def _one_step(spec, model_cfg, learner_cfg, batch, E, T, algorithm):
    model = build_model(spec, model_cfg, seed=3, algorithm=algorithm)
    optimizer = make_optimizer(learner_cfg, make_lr_schedule(learner_cfg, 100))
    state = init_state(model, optimizer, with_target=algorithm not in ("a3c", "appo"))
    if algorithm not in ("a3c", "appo"):  # a target that differs from the online weights, as after some training
        state = state._replace(target=[t * 0.5 for t in state.target])
    step = make_train_step(model, optimizer, learner_cfg, E, T, algorithm)
    state, metrics = step(state, batch)
    return [np.asarray(v) for v in state.trainable], {k: float(v) for k, v in metrics.items()}


@pytest.mark.parametrize(
    "pixels,algorithm,core",
    [
        (False, "a3c", "none"),
        (True, "a3c", "none"),
        (False, "q_1step", "none"),
        (False, "sarsa_1step", "none"),
        (False, "q_nstep", "none"),
        (True, "q_nstep", "none"),
        (False, "a3c", "lstm"),
        (True, "a3c", "lstm"),
        (False, "appo", "none"),
        (True, "appo", "none"),
        (False, "appo", "lstm"),
    ],
)
def test_chunked_step_equals_full_batch_step(pixels, algorithm, core):
    B, T, E = 2, 5, 4
    spec = EnvSpec((4, 20, 20), "uint8", 3, 4) if pixels else EnvSpec((4,), "float32", 3, 1)
    model_cfg = ModelConfig(torso="paper" if pixels else "mlp", core=core, lstm_size=8)
    fields = unroll_fields(
        spec.obs_shape, spec.obs_dtype, spec.num_actions, T, E, algorithm, core_size=8 if core == "lstm" else 0
    )
    rng = np.random.default_rng(0)
    batch = {}
    for k, (shape, dtype) in fields.items():
        dt = np.dtype(dtype)
        if dt == np.uint8:
            batch[k] = rng.integers(0, 256, (B, *shape), dtype=np.uint8)
        elif dt == np.bool_:
            batch[k] = rng.random((B, *shape)) < 0.2  # episode ends inside the unrolls
        elif k in ("actions", "bootstrap_action"):
            batch[k] = rng.integers(0, spec.num_actions, (B, *shape)).astype(dt)
        else:
            batch[k] = rng.normal(size=(B, *shape)).astype(dt)
    full_cfg = LearnerConfig(microbatch_samples=0, learning_rate=1e-2)
    if algorithm == "appo":  # 2 epochs of 2 random minibatches of 4 streams; the batch's advantage statistics
        full_cfg = dataclasses.replace(full_cfg, epochs=2, minibatches=2, value_clip=0.1, optimizer="adam")
    chunk_cfg = dataclasses.replace(full_cfg, microbatch_samples=2 * (T + 1))  # 2 streams per chunk: 4 chunks
    assert streams_per_chunk(E, T, chunk_cfg.microbatch_samples) == 2
    full_params, full_m = _one_step(spec, model_cfg, full_cfg, {k: v.copy() for k, v in batch.items()}, E, T, algorithm)
    chunk_params, chunk_m = _one_step(spec, model_cfg, chunk_cfg, batch, E, T, algorithm)
    for a, b in zip(full_params, chunk_params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for k in full_m:
        np.testing.assert_allclose(chunk_m[k], full_m[k], rtol=1e-4, atol=1e-6, err_msg=k)
    initial = [np.asarray(v) for v in build_model(spec, model_cfg, seed=3, algorithm=algorithm).trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(full_params, initial))  # the step really moved the weights


@pytest.mark.parametrize("algorithm", ["q_1step", "sarsa_1step", "q_nstep"])
def test_value_targets_bootstrap_from_the_target_network(algorithm):
    T, E, A, gamma = 4, 3, 3, 0.9
    spec = EnvSpec((4,), "float32", A, 1)
    model = build_model(spec, ModelConfig(torso="mlp"), seed=0, algorithm=algorithm)
    online = [v.value for v in model.trainable_variables]
    target = [
        v.value for v in build_model(spec, ModelConfig(torso="mlp"), seed=1, algorithm=algorithm).trainable_variables
    ]
    rng = np.random.default_rng(0)
    chunk = {
        "obs": rng.normal(size=(T + 1, E, 4)).astype(np.float32),
        "actions": rng.integers(0, A, (T, E)).astype(np.int32),
        "rewards": rng.normal(size=(T, E)).astype(np.float32),
        "dones": np.array([[False, True, False], [False, False, False], [True, False, False], [False, False, True]]),
        "bootstrap_action": rng.integers(0, A, E).astype(np.int32),
    }
    _, (metrics, _) = make_chunk_loss(model, LearnerConfig(gamma=gamma), algorithm)(online, [], target, chunk)

    def q(weights):  # [T+1, E, A]
        out = model.stateless_call(weights, [], chunk["obs"].reshape(-1, 4))[0]
        return np.asarray(out[0] if isinstance(out, (list, tuple)) else out).reshape(T + 1, E, A)

    q_target = q(target)
    disc = gamma * (1.0 - chunk["dones"])
    next_actions = np.concatenate([chunk["actions"][1:], chunk["bootstrap_action"][None]])
    if algorithm == "q_nstep":
        expected = np.zeros((T, E))
        R = q_target[T].max(-1)
        for t in reversed(range(T)):
            R = chunk["rewards"][t] + disc[t] * R
            expected[t] = R
    elif algorithm == "q_1step":
        expected = chunk["rewards"] + disc * q_target[1:].max(-1)
    else:
        expected = chunk["rewards"] + disc * np.take_along_axis(q_target[1:], next_actions[..., None], -1)[..., 0]
    np.testing.assert_allclose(float(metrics["losses/mean_target"]), expected.mean(), rtol=1e-5, atol=1e-6)
    q_online_taken = np.take_along_axis(q(online)[:T], chunk["actions"][..., None], -1)[..., 0]
    np.testing.assert_allclose(float(metrics["losses/mean_q"]), q_online_taken.mean(), rtol=1e-5, atol=1e-6)


def test_rmsprop_mean_squares_start_at_the_configured_value():
    import keras

    from learner.train_step import init_state

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    for start in (0.0, 1.0):
        optimizer = keras.optimizers.RMSprop()
        state = init_state(model, optimizer, initial_mean_square=start)
        velocities = [v for var, v in zip(optimizer.variables, state.optimizer) if var.path.endswith("_velocity")]
        assert len(velocities) == 2 and all(np.all(np.asarray(v) == start) for v in velocities)


def _mlp_batch(algorithm, B=1, T=5, E=4, seed=0):
    fields = unroll_fields((4,), "float32", 3, T, E, algorithm)
    rng = np.random.default_rng(seed)
    batch = {}
    for k, (shape, dtype) in fields.items():
        dt = np.dtype(dtype)
        if dt == np.bool_:
            batch[k] = np.zeros((B, *shape), bool)
        elif k in ("actions", "bootstrap_action"):
            batch[k] = rng.integers(0, 3, (B, *shape)).astype(dt)
        else:
            batch[k] = rng.normal(size=(B, *shape)).astype(dt)
    return batch


@pytest.mark.parametrize("algorithm", ["a3c", "q_nstep"])
@pytest.mark.parametrize("poison", [np.nan, np.inf])
def test_a_non_finite_update_is_not_applied(algorithm, poison):
    spec = EnvSpec((4,), "float32", 3, 1)
    cfg = LearnerConfig(learning_rate=1e-2, anneal_lr=False)
    model = build_model(spec, ModelConfig(torso="mlp"), seed=0, algorithm=algorithm)
    optimizer = make_optimizer(cfg, make_lr_schedule(cfg, 100))
    state = init_state(model, optimizer, with_target=algorithm != "a3c")
    before = [np.asarray(v).copy() for v in state.trainable + state.optimizer]
    step = make_train_step(model, optimizer, cfg, 4, 5, algorithm)
    batch = _mlp_batch(algorithm)
    batch["rewards"][0, 2, 1] = poison
    state, metrics = step(state, batch)
    assert float(metrics["learner/skipped_update"]) == 1.0
    for a, b in zip(before, [np.asarray(v) for v in state.trainable + state.optimizer]):
        np.testing.assert_array_equal(a, b)  # weights and RMSprop state as before the step
    state, metrics = step(state, _mlp_batch(algorithm, seed=1))  # the next, finite batch trains as usual
    assert float(metrics["learner/skipped_update"]) == 0.0
    assert any(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, state.trainable))


def test_the_learning_rate_is_linear_to_its_final_value_or_constant():
    annealed = make_lr_schedule(LearnerConfig(learning_rate=1e-3), 1000)
    assert [float(annealed(s)) for s in (0, 500, 1000)] == pytest.approx([1e-3, 5e-4, 0.0])
    to_half = make_lr_schedule(LearnerConfig(learning_rate=1e-3, learning_rate_final=5e-4), 1000)
    assert [float(to_half(s)) for s in (0, 500, 1000, 2000)] == pytest.approx([1e-3, 7.5e-4, 5e-4, 5e-4])
    constant = make_lr_schedule(LearnerConfig(learning_rate=1e-3, anneal_lr=False), 1000)
    assert constant(0) == constant(1000) == 1e-3


def test_the_entropy_weight_is_linear_to_its_final_value_or_constant():
    from learner.train_step import make_entropy_schedule

    annealed = make_entropy_schedule(LearnerConfig(entropy_coef=0.01, entropy_coef_final=0.001), 100_000, 100)
    assert [annealed(u) for u in (0, 500, 1000, 5000)] == pytest.approx([0.01, 0.0055, 0.001, 0.001])
    constant = make_entropy_schedule(LearnerConfig(entropy_coef=0.01), 100_000, 100)
    assert constant(0) == constant(1000) == 0.01


def test_the_entropy_weight_can_reach_its_final_value_before_the_budget_ends():
    from learner.train_step import make_entropy_schedule

    cfg = LearnerConfig(entropy_coef=0.01, entropy_coef_final=0.001, entropy_anneal_frames=50_000)
    early = make_entropy_schedule(cfg, 100_000, 100)  # final at update 500 of the budget's 1000
    assert [early(u) for u in (0, 250, 500, 1000)] == pytest.approx([0.01, 0.0055, 0.001, 0.001])


def test_the_train_step_uses_the_entropy_weight_it_is_given():
    spec = EnvSpec((4,), "float32", 3, 1)
    cfg = LearnerConfig(learning_rate=1e-2, anneal_lr=False)
    totals = {}
    for coef in (0.0, 0.5):  # a fresh model each time: the step donates the state it is given
        model = build_model(spec, ModelConfig(torso="mlp"), seed=0, algorithm="a3c")
        optimizer = make_optimizer(cfg, make_lr_schedule(cfg, 100))
        step = make_train_step(model, optimizer, cfg, 4, 5, "a3c")
        _, metrics = step(init_state(model, optimizer), _mlp_batch("a3c"), np.float32(coef))
        totals[coef] = (float(metrics["losses/total"]), float(metrics["losses/entropy"]))
    (t0, h0), (t1, h1) = totals[0.0], totals[0.5]
    assert h0 == pytest.approx(h1) and t1 == pytest.approx(t0 - 0.5 * h0, rel=1e-5)  # total = ... - coef x entropy


@pytest.mark.parametrize("n_rows,minibatches", [(1, 1), (8, 1), (8, 2), (12, 4), (16, 16)])
def test_minibatch_indices_are_a_permutation_split_evenly(n_rows, minibatches):
    idx = np.asarray(minibatch_indices(n_rows, minibatches, jax.random.key(3)))
    assert idx.shape == (minibatches, n_rows // minibatches)
    assert idx.dtype == np.int32
    np.testing.assert_array_equal(np.sort(idx.ravel()), np.arange(n_rows))


def test_minibatch_indices_shuffle_with_the_key():
    draws = {tuple(np.asarray(minibatch_indices(16, 4, jax.random.key(s))).ravel()) for s in range(5)}
    assert len(draws) == 5  # not the identity split, and a different split for each key
    assert tuple(range(16)) not in draws
    same = [np.asarray(minibatch_indices(16, 4, jax.random.key(7))) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])


@pytest.mark.parametrize("n_rows,minibatches", [(10, 4), (3, 2), (8, 0), (0, 1)])
def test_minibatch_indices_reject_uneven_or_empty_splits(n_rows, minibatches):
    with pytest.raises(ValueError, match="n_rows"):
        minibatch_indices(n_rows, minibatches, jax.random.key(0))


def test_each_epoch_draws_its_own_split_and_a_resumed_run_the_same():
    splits = [np.asarray(epoch_minibatches(0, it, epoch, 16, 4)) for it in (0, 16) for epoch in (0, 1, 2)]
    assert len({s.tobytes() for s in splits}) == 6  # every epoch of both batches: a different split
    for split in splits:
        np.testing.assert_array_equal(np.sort(split.ravel()), np.arange(16))
    again = np.asarray(epoch_minibatches(0, jax.numpy.int32(16), 1, 16, 4))  # the iteration count, traced
    np.testing.assert_array_equal(again, splits[4])
    assert not np.array_equal(np.asarray(epoch_minibatches(1, 16, 1, 16, 4)), again)  # another run seed


def test_metrics_combine_as_means_and_maxima():
    m = combine_metrics([{"a/x": 1.0, "appo/ratio_max": 3.0}, {"a/x": 2.0, "appo/ratio_max": 1.5}])
    assert float(m["a/x"]) == 1.5 and float(m["appo/ratio_max"]) == 3.0
