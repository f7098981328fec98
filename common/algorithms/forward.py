"""The model over an unroll, as the learner's losses call it: time-major observations in, each head out.

Traced inside the jitted train step (`learner.train_step`); shared by the families' chunk losses.
"""

from __future__ import annotations

import jax.numpy as jnp

from common.model import is_recurrent


def make_time_major_call(model):
    """A feed-forward model over time-major observations: (weights, non_trainable, obs [K, c, *obs_shape])
    -> (outputs, each [K, c, ...], non_trainable), as one batched call over K*c observations."""

    def call(weights, non_trainable, obs):
        flat = obs.reshape((-1,) + obs.shape[2:])  # [K*c, *obs_shape]
        outputs, non_trainable = model.stateless_call(weights, non_trainable, flat, training=True)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]  # a one-output model gives a tensor
        return [o.reshape(obs.shape[:2] + o.shape[1:]) for o in outputs], non_trainable

    return call


def make_sequence_forward(model):
    """(weights, non_trainable, chunk) -> (the heads, each [T+1, c, ...], non_trainable); a3c's are
    [logits [T+1, c, A], values [T+1, c, 1]].

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
        outputs, non_trainable = model.stateless_call(
            weights, non_trainable, [obs, resets, chunk["core_h"], chunk["core_c"]], training=True
        )
        heads = outputs[:-2]  # the last two outputs are the core's state (h, c)
        return [jnp.swapaxes(x, 0, 1) for x in heads], non_trainable  # time-major again

    return recurrent if is_recurrent(model) else feed_forward


def make_actor_critic_unroll(model):
    """(weights, non_trainable, chunk) -> ((logits [T, c, A], values [T, c], bootstrap_value [c], actions [T, c],
    rewards [T, c], dones [T, c]), non_trainable): the policy and value heads over a chunk, laid out as the
    actor-critic losses take their first six arguments (V of obs[T] bootstraps)."""
    forward = make_sequence_forward(model)

    def unroll(weights, non_trainable, chunk):
        (logits, values), non_trainable = forward(weights, non_trainable, chunk)  # [T+1, c, A], [T+1, c, 1]
        values = values[..., 0]
        steps = (logits[:-1], values[:-1], values[-1], chunk["actions"], chunk["rewards"], chunk["dones"])
        return steps, non_trainable

    return unroll
