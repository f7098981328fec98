"""Keras 3 model builders: torso (paper / nature / mlp) + heads (policy logits and value, or Q values).

Pixel inputs are the env's `[stack, H, W] uint8` frames; the model rescales them
to [0, 1] and moves the stack to the channel axis itself, so nothing upstream
converts or copies frames. Both actor and learner call the model through
`stateless_call(trainable, non_trainable, obs)`; the variable order of
`model.trainable_variables + model.non_trainable_variables` is the weight
layout on the weight board.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
from keras import layers  # noqa: E402

from common.config import ConfigError, ModelConfig, is_value_method  # noqa: E402
from common.env import EnvSpec  # noqa: E402


# Smallest screen whose conv stack still leaves a >= 1 pixel feature map.
MIN_SCREEN = {"paper": 20, "nature": 36}


def resolve_torso(spec: EnvSpec, cfg: ModelConfig) -> str:
    torso = cfg.torso
    if torso == "auto":
        torso = "paper" if spec.is_pixels else "mlp"
    return torso


def _conv_torso(x, torso: str):
    if torso == "paper":  # Mnih et al. 2016, same as Mnih et al. 2013
        x = layers.Conv2D(16, 8, strides=4, activation="relu", name="conv1")(x)
        x = layers.Conv2D(32, 4, strides=2, activation="relu", name="conv2")(x)
        x = layers.Flatten(name="flatten")(x)
        return layers.Dense(256, activation="relu", name="fc")(x)
    # Nature DQN, Mnih et al. 2015
    x = layers.Conv2D(32, 8, strides=4, activation="relu", name="conv1")(x)
    x = layers.Conv2D(64, 4, strides=2, activation="relu", name="conv2")(x)
    x = layers.Conv2D(64, 3, strides=1, activation="relu", name="conv3")(x)
    x = layers.Flatten(name="flatten")(x)
    return layers.Dense(512, activation="relu", name="fc")(x)


def build_model(spec: EnvSpec, cfg: ModelConfig, seed: int = 0, algorithm: str = "a3c") -> keras.Model:
    """Functional model for `algorithm`.

    a3c: obs [N, *obs_shape] -> [logits [N, A], value [N, 1]];
    value methods: obs [N, *obs_shape] -> [q_values [N, A]] (a one-element list, the same calling pattern).
    """
    torso = resolve_torso(spec, cfg)
    if torso in ("paper", "nature"):
        if not spec.is_pixels or len(spec.obs_shape) != 3:
            raise ConfigError(f"model.torso: {torso!r} needs image observations, this env gives {spec.obs_shape}")
        smallest = MIN_SCREEN[torso]
        if min(spec.obs_shape[1:]) < smallest:
            raise ConfigError(f"env.screen_size: the {torso!r} torso needs at least {smallest} pixels, got {spec.obs_shape[1:]}")
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=spec.obs_shape, dtype=spec.obs_dtype, name="obs")
    if torso == "mlp":
        x = layers.Flatten(name="flatten")(inputs) if len(spec.obs_shape) > 1 else inputs
        if spec.is_pixels:
            x = layers.Rescaling(1.0 / 255.0, name="rescale")(x)
        for i, width in enumerate(cfg.mlp_hidden):
            x = layers.Dense(width, activation="tanh", name=f"fc{i + 1}")(x)
    else:
        x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)  # uint8 -> float32 in [0, 1]
        x = layers.Permute((2, 3, 1), name="stack_to_channels")(x)  # [N, S, H, W] -> [N, H, W, S]
        x = _conv_torso(x, torso)
    if is_value_method(algorithm):
        q_values = layers.Dense(spec.num_actions, name="q_values")(x)
        return keras.Model(inputs, [q_values], name=f"q_{torso}")
    # A small policy init keeps the first policy near uniform (every action explored).
    logits = layers.Dense(
        spec.num_actions, name="policy_logits", kernel_initializer=keras.initializers.Orthogonal(0.01)
    )(x)
    value = layers.Dense(1, name="value", kernel_initializer=keras.initializers.Orthogonal(1.0))(x)
    return keras.Model(inputs, [logits, value], name=f"a3c_{torso}")


def model_variables(model: keras.Model) -> list:
    """Variables in weight-board order: trainable, then non-trainable."""
    return list(model.trainable_variables) + list(model.non_trainable_variables)


def is_recurrent(model: keras.Model) -> bool:
    """A `model.core: lstm` model: inputs (obs [N, T, ...], resets [N, T], h [N, H], c [N, H])."""
    return len(model.inputs) == 4


def initial_core(model: keras.Model, num_envs: int) -> tuple:
    """Zero recurrent state for `num_envs` envs: (h [E, H], c [E, H]) float32, or () for feed-forward."""
    if not is_recurrent(model):
        return ()
    import numpy as np

    return tuple(np.zeros((num_envs, int(t.shape[-1])), np.float32) for t in model.inputs[2:])


def reset_core(core: tuple, done) -> tuple:
    """Zero the state rows of envs whose episode just ended (done [E] bool); () stays ()."""
    import numpy as np

    keep = ~np.asarray(done, bool)[:, None]  # [E, 1]
    return tuple(np.where(keep, np.asarray(x), np.float32(0.0)) for x in core)

