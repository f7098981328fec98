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


def _time_major(x):
    """[B, T, E, ...] -> [T, B*E, ...]"""
    x = jnp.swapaxes(x, 0, 1)
    return x.reshape((x.shape[0], x.shape[1] * x.shape[2]) + x.shape[3:])


def make_train_step(model: keras.Model, optimizer: keras.optimizers.Optimizer, cfg: LearnerConfig):
    """Jitted (state, batch) -> (state, metrics). `batch` fields are [B, T(+1), E, ...] (see transport)."""

    def loss_fn(trainable, non_trainable, batch):
        obs = batch["obs"]  # [B, T+1, E, *obs_shape]
        flat = obs.reshape((-1,) + obs.shape[3:])  # [B*(T+1)*E, *obs_shape]
        (logits, values), non_trainable = model.stateless_call(trainable, non_trainable, flat, training=True)
        logits = _time_major(logits.reshape(obs.shape[:3] + logits.shape[-1:]))  # [T+1, B*E, A]
        values = _time_major(values.reshape(obs.shape[:3]))  # [T+1, B*E]
        loss, metrics = a3c_loss_fn(
            logits[:-1],
            values[:-1],
            values[-1],
            _time_major(batch["actions"]),
            _time_major(batch["rewards"]),
            _time_major(batch["dones"]),
            cfg.gamma,
            cfg.value_coef,
            cfg.entropy_coef,
        )
        return loss, (metrics, non_trainable)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def train_step(state: TrainState, batch):
        (_, (metrics, non_trainable)), grads = grad_fn(state.trainable, state.non_trainable, batch)
        trainable, opt_vars = optimizer.stateless_apply(state.optimizer, grads, state.trainable)
        metrics["losses/grad_norm"] = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
        return TrainState(trainable, non_trainable, opt_vars), metrics

    return jax.jit(train_step, donate_argnums=(0,))
