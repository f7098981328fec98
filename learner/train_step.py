"""The jitted train step: Keras `stateless_call` + `jax.value_and_grad` + RMSprop `stateless_apply`.

One step shape for every algorithm; what differs is the loss of a chunk of env streams:
A3C (`learner.losses`) or the value methods' TD loss against a target network
(`learner.value_losses`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras

from common.config import LearnerConfig, is_value_method
from common.model import is_recurrent
from learner.losses import a3c_loss_fn
from learner.value_losses import q1_targets_fn, q_loss_fn, qnstep_targets_fn, sarsa_targets_fn


class TrainState(NamedTuple):
    trainable: list  # model.trainable_variables values
    non_trainable: list  # model.non_trainable_variables values
    optimizer: list  # optimizer.variables values (iterations, RMS accumulators)
    target: list  # value methods: the target network's trainable values; [] for A3C


def make_lr_schedule(cfg: LearnerConfig, total_updates: int):
    """Learning rate as a function of the update count: linear to 0 over `total_updates` if annealed."""
    if not cfg.anneal_lr:
        return lambda step: cfg.learning_rate
    return keras.optimizers.schedules.PolynomialDecay(
        cfg.learning_rate, decay_steps=max(total_updates, 1), end_learning_rate=0.0, power=1.0
    )


def make_entropy_schedule(cfg: LearnerConfig, total_frames: int, update_frames: int):
    """Entropy weight as a function of the update count: linear to `entropy_coef_final` (if set) over
    `entropy_anneal_frames` (default: the whole budget), constant after; `entropy_coef` throughout if unset."""
    start, end = cfg.entropy_coef, cfg.entropy_coef_final
    if end is None:
        return lambda step: start
    anneal_updates = max(total_updates_for(cfg.entropy_anneal_frames or total_frames, update_frames), 1)
    return lambda step: start + (end - start) * min(step / anneal_updates, 1.0)


def make_optimizer(cfg: LearnerConfig, lr_schedule) -> keras.optimizers.Optimizer:
    """RMSprop with the paper's settings, driven by `lr_schedule` (from `make_lr_schedule`)."""
    lr = lr_schedule if cfg.anneal_lr else cfg.learning_rate
    return keras.optimizers.RMSprop(
        learning_rate=lr, rho=cfg.rms_rho, epsilon=cfg.rms_epsilon, global_clipnorm=cfg.max_grad_norm
    )


def total_updates_for(total_frames: int, frames_per_update: int) -> int:
    return math.ceil(total_frames / frames_per_update)


def init_state(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    with_target: bool = False,
    initial_mean_square: float = 0.0,
) -> TrainState:
    """The functional state of a new run; RMSprop's mean squares start at `initial_mean_square`."""
    optimizer.build(model.trainable_variables)
    for v in optimizer.variables:
        if v.path.endswith("_velocity"):  # RMSprop's running mean of squared gradients, one per weight
            v.assign(jnp.full(v.shape, initial_mean_square, v.dtype))
    trainable = [v.value for v in model.trainable_variables]
    return TrainState(
        trainable,
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
        copy_weights(trainable) if with_target else [],
    )


def copy_weights(values: list) -> list:
    """Fresh buffers (the train step donates its inputs, so a target must never alias the online weights)."""
    return [jnp.array(v, copy=True) for v in values]


def update_target(state: TrainState) -> TrainState:
    """Target network <- online weights (value methods, every `learner.target_update_frames`)."""
    return state._replace(target=copy_weights(state.trainable))


def write_back(state: TrainState, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
    """Copy the functional state into the Keras objects (before saving weights)."""
    for var, val in zip(model.trainable_variables, state.trainable):
        var.assign(val)
    for var, val in zip(model.non_trainable_variables, state.non_trainable):
        var.assign(val)
    for var, val in zip(optimizer.variables, state.optimizer):
        var.assign(val)


def streams_per_chunk(num_envs: int, unroll_length: int, microbatch_samples: int) -> int:
    """Env streams per gradient chunk: the largest divisor of E whose (T+1)-step samples fit the target."""
    if microbatch_samples <= 0:
        return num_envs
    fits = [c for c in range(1, num_envs + 1) if num_envs % c == 0 and c * (unroll_length + 1) <= microbatch_samples]
    return max(fits, default=1)


def make_time_major_call(model: keras.Model):
    """A feed-forward model over time-major observations: (weights, non_trainable, obs [K, c, *obs_shape])
    -> (outputs, each [K, c, ...], non_trainable), as one batched call over K*c observations."""

    def call(weights, non_trainable, obs):
        flat = obs.reshape((-1,) + obs.shape[2:])  # [K*c, *obs_shape]
        outputs, non_trainable = model.stateless_call(weights, non_trainable, flat, training=True)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]  # a one-output model gives a tensor
        return [o.reshape(obs.shape[:2] + o.shape[1:]) for o in outputs], non_trainable

    return call


def make_a3c_forward(model: keras.Model):
    """(weights, non_trainable, chunk) -> ([logits [T+1, c, A], values [T+1, c, 1]], non_trainable).

    Feed-forward: one batched call over all T+1 observations. LSTM core: the model unrolled
    over the T+1 observations from the state the actor stored (core_h/core_c [c, H]), zeroed
    after every episode end, which reproduces the actor's step-by-step outputs (tests/test_lstm.py).
    """

    call = make_time_major_call(model)

    def feed_forward(weights, non_trainable, chunk):
        return call(weights, non_trainable, chunk["obs"])

    def recurrent(weights, non_trainable, chunk):
        obs = jnp.swapaxes(chunk["obs"], 0, 1)  # [c, T+1, *obs_shape]
        dones = chunk["dones"].astype(jnp.float32)  # [T, c]
        resets = jnp.concatenate(
            [jnp.zeros_like(dones[:1]), dones], axis=0
        ).T  # [c, T+1]; the stored state is already reset
        (logits, values, _, _), non_trainable = model.stateless_call(
            weights, non_trainable, [obs, resets, chunk["core_h"], chunk["core_c"]], training=True
        )
        return [jnp.swapaxes(logits, 0, 1), jnp.swapaxes(values, 0, 1)], non_trainable  # time-major again

    return recurrent if is_recurrent(model) else feed_forward


def make_chunk_loss(model: keras.Model, cfg: LearnerConfig, algorithm: str):
    """(trainable, non_trainable, target, chunk) -> (loss, (metrics, non_trainable)) for one chunk.

    `chunk` fields are time-major over c env streams: obs [T+1, c, ...], actions/rewards/dones [T, c],
    for Sarsa bootstrap_action [c] (the action taken at obs[T]), for an LSTM core core_h/core_c [c, H].
    """

    vtrace = cfg.correction == "vtrace"
    a3c_forward = make_a3c_forward(model)

    call = make_time_major_call(model)

    def a3c_loss(trainable, non_trainable, target, chunk):
        (logits, values), non_trainable = a3c_forward(trainable, non_trainable, chunk)  # [T+1, c, A], [T+1, c, 1]
        values = values[..., 0]
        loss, metrics = a3c_loss_fn(
            logits[:-1],
            values[:-1],
            values[-1],
            chunk["actions"],
            chunk["rewards"],
            chunk["dones"],
            cfg.gamma,
            cfg.value_coef,
            chunk["entropy_coef"],
            chunk["behaviour_logits"] if vtrace else None,
            cfg.vtrace_rho_bar,
            cfg.vtrace_c_bar,
        )
        return loss, (metrics, non_trainable)

    def q_loss(trainable, non_trainable, target, chunk):
        obs = chunk["obs"]
        discounts = cfg.gamma * (1.0 - chunk["dones"].astype(jnp.float32))  # [T, c]
        (q,), non_trainable = call(trainable, non_trainable, obs[:-1])  # [T, c, A]
        if algorithm == "q_nstep":
            (target_q_last,), _ = call(target, non_trainable, obs[-1:])  # [1, c, A]
            targets = qnstep_targets_fn(chunk["rewards"], discounts, target_q_last[0])
        else:
            (target_q_next,), _ = call(target, non_trainable, obs[1:])  # [T, c, A]
            if algorithm == "q_1step":
                targets = q1_targets_fn(chunk["rewards"], discounts, target_q_next)
            else:  # sarsa_1step: a_{t+1} is the next action in the unroll, then the carried-over one
                next_actions = jnp.concatenate([chunk["actions"][1:], chunk["bootstrap_action"][None]], axis=0)
                targets = sarsa_targets_fn(chunk["rewards"], discounts, target_q_next, next_actions)
        loss, metrics = q_loss_fn(q, chunk["actions"], targets, cfg.td_loss)
        return loss, (metrics, non_trainable)

    return q_loss if is_value_method(algorithm) else a3c_loss


def keep_if_finite(old: TrainState, new: TrainState, loss, grad_norm) -> tuple[TrainState, jax.Array]:
    """(`new` if the loss, the gradient and every new weight are finite, else `old`; applied? as a bool scalar).

    One overflowing batch must not reach the weights: NaN weights would be published to every actor
    and checkpointed. Traced inside the train step; the caller counts the skipped updates.
    """
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    for w in new.trainable + new.optimizer:
        if jnp.issubdtype(w.dtype, jnp.floating):
            finite = finite & jnp.all(jnp.isfinite(w))

    def pick(a, b):
        return [jnp.where(finite, x, y) for x, y in zip(a, b)]

    kept = TrainState(
        pick(new.trainable, old.trainable),
        pick(new.non_trainable, old.non_trainable),
        pick(new.optimizer, old.optimizer),
        new.target,
    )
    return kept, finite


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    cfg: LearnerConfig,
    num_envs: int,
    unroll_length: int,
    algorithm: str = "a3c",
):
    """Jitted (state, batch, entropy_coef) -> (state, metrics). `batch` fields are [B, T(+1), E, ...] (see
    transport); `entropy_coef` is this update's entropy weight (a3c; `make_entropy_schedule`), a traced scalar.

    The gradient is the mean of the gradients of chunks of whole env streams (each chunk's loss
    is its own mean over T x streams, and all chunks have the same size, so this equals the
    gradient of the batch mean). The chunks are unrolled in the jitted function: XLA's CPU
    convolution gradients are about twice as fast per sample on ~40-sample pieces that stay in
    cache as on the full batch (benchmarks/RESULTS.md); a `lax.scan` over chunks is much slower.
    """
    c = streams_per_chunk(num_envs, unroll_length, cfg.microbatch_samples)
    grad_fn = jax.value_and_grad(make_chunk_loss(model, cfg, algorithm), has_aux=True)
    timed = ("obs", "actions", "rewards", "dones", "behaviour_logits")  # fields [B, T(+1), E, ...]
    per_stream = ("bootstrap_action",) if algorithm == "sarsa_1step" else ()  # fields [B, E, ...]
    if is_recurrent(model):
        per_stream += ("core_h", "core_c")

    def train_step(state: TrainState, batch, entropy_coef=cfg.entropy_coef):
        B, E = batch["actions"].shape[0], batch["actions"].shape[2]
        non_trainable, grads, metrics, loss = state.non_trainable, None, None, 0.0
        for b in range(B):
            for e in range(0, E, c):
                chunk = {k: batch[k][b, :, e : e + c] for k in timed}
                chunk.update({k: batch[k][b, e : e + c] for k in per_stream})
                chunk["entropy_coef"] = entropy_coef
                (chunk_loss, (m, non_trainable)), g = grad_fn(state.trainable, non_trainable, state.target, chunk)
                loss = loss + chunk_loss
                grads = g if grads is None else [a + x for a, x in zip(grads, g)]
                metrics = m if metrics is None else {k: metrics[k] + m[k] for k in m}
        n = B * (E // c)
        grads = [g / n for g in grads]
        metrics = {k: v / n for k, v in metrics.items()}
        trainable, opt_vars = optimizer.stateless_apply(state.optimizer, grads, state.trainable)
        grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
        metrics["losses/grad_norm"] = grad_norm
        new = TrainState(trainable, non_trainable, opt_vars, state.target)
        new, applied = keep_if_finite(state, new, loss, grad_norm)
        metrics["learner/skipped_update"] = 1.0 - applied.astype(jnp.float32)
        return new, metrics

    return jax.jit(train_step, donate_argnums=(0,))
