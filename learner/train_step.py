"""The jitted A3C train step: Keras `stateless_call` + `jax.value_and_grad` + RMSprop `stateless_apply`."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras

from common.config import LearnerConfig
from learner.losses import a3c_loss_fn


class TrainState(NamedTuple):
    trainable: list  # model.trainable_variables values
    non_trainable: list  # model.non_trainable_variables values
    optimizer: list  # optimizer.variables values (iterations, RMS accumulators)


def make_lr_schedule(cfg: LearnerConfig, total_updates: int):
    """Learning rate as a function of the update count: linear to 0 over `total_updates` if annealed."""
    if not cfg.anneal_lr:
        return lambda step: cfg.learning_rate
    return keras.optimizers.schedules.PolynomialDecay(
        cfg.learning_rate, decay_steps=max(total_updates, 1), end_learning_rate=0.0, power=1.0
    )


def make_optimizer(cfg: LearnerConfig, lr_schedule) -> keras.optimizers.Optimizer:
    """RMSprop with the paper's settings, driven by `lr_schedule` (from `make_lr_schedule`)."""
    lr = lr_schedule if cfg.anneal_lr else cfg.learning_rate
    return keras.optimizers.RMSprop(
        learning_rate=lr, rho=cfg.rms_rho, epsilon=cfg.rms_epsilon, global_clipnorm=cfg.max_grad_norm
    )


def total_updates_for(total_frames: int, frames_per_update: int) -> int:
    return math.ceil(total_frames / frames_per_update)


def init_state(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> TrainState:
    optimizer.build(model.trainable_variables)
    return TrainState(
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )


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


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, cfg: LearnerConfig,
                    num_envs: int, unroll_length: int):
    """Jitted (state, batch) -> (state, metrics). `batch` fields are [B, T(+1), E, ...] (see transport).

    The gradient is the mean of the gradients of chunks of whole env streams (each chunk's loss
    is its own mean over T x streams, and all chunks have the same size, so this equals the
    gradient of the batch mean). The chunks are unrolled in the jitted function: XLA's CPU
    convolution gradients are about twice as fast per sample on ~40-sample pieces that stay in
    cache as on the full batch (benchmarks/RESULTS.md); a `lax.scan` over chunks is much slower.
    """
    c = streams_per_chunk(num_envs, unroll_length, cfg.microbatch_samples)

    def loss_fn(trainable, non_trainable, chunk):
        obs = chunk["obs"]  # [T+1, c, *obs_shape]
        flat = obs.reshape((-1,) + obs.shape[2:])  # [(T+1)*c, *obs_shape]
        (logits, values), non_trainable = model.stateless_call(trainable, non_trainable, flat, training=True)
        logits = logits.reshape(obs.shape[:2] + logits.shape[-1:])  # [T+1, c, A]
        values = values.reshape(obs.shape[:2])  # [T+1, c]
        loss, metrics = a3c_loss_fn(
            logits[:-1], values[:-1], values[-1], chunk["actions"], chunk["rewards"], chunk["dones"],
            cfg.gamma, cfg.value_coef, cfg.entropy_coef,
        )
        return loss, (metrics, non_trainable)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(state: TrainState, batch):
        B, E = batch["actions"].shape[0], batch["actions"].shape[2]
        non_trainable, grads, metrics = state.non_trainable, None, None
        for b in range(B):
            for e in range(0, E, c):
                chunk = {k: batch[k][b, :, e:e + c] for k in ("obs", "actions", "rewards", "dones")}
                (_, (m, non_trainable)), g = grad_fn(state.trainable, non_trainable, chunk)
                grads = g if grads is None else [a + x for a, x in zip(grads, g)]
                metrics = m if metrics is None else {k: metrics[k] + m[k] for k in m}
        n = B * (E // c)
        grads = [g / n for g in grads]
        metrics = {k: v / n for k, v in metrics.items()}
        trainable, opt_vars = optimizer.stateless_apply(state.optimizer, grads, state.trainable)
        metrics["losses/grad_norm"] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
        return TrainState(trainable, non_trainable, opt_vars), metrics

    return jax.jit(train_step, donate_argnums=(0,))
