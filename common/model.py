"""Keras 3 model builders: torso (paper / nature / mlp), optional LSTM core, then the algorithm's heads
(`common.algorithms`: policy logits and value, or Q values).

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

import keras
import numpy as np
from keras import layers, ops

from common import algorithms
from common.config import ConfigError, ModelConfig
from common.env import EnvSpec

# Smallest screen whose conv stack still leaves a >= 1 pixel feature map.
MIN_SCREEN = {"paper": 20, "nature": 36}


def resolve_torso(spec: EnvSpec, cfg: ModelConfig) -> str:
    torso = cfg.torso
    if torso == "auto":
        torso = "paper" if spec.is_pixels else "mlp"
    return torso


def torso_initializer(init: str):
    """Kernel initializer of every torso layer for `model.init` (a fresh one per layer call)."""
    if init == "orthogonal":
        return keras.initializers.Orthogonal(gain=float(np.sqrt(2.0)))
    return "glorot_uniform"


def _conv_torso(x, torso: str, init: str, dense_norm: bool = False):
    def conv(filters, size, stride, name):
        return layers.Conv2D(
            filters, size, strides=stride, activation="relu", name=name, kernel_initializer=torso_initializer(init)
        )

    if torso == "paper":  # Mnih et al. 2016, same as Mnih et al. 2013
        x = conv(16, 8, 4, "conv1")(x)
        x = conv(32, 4, 2, "conv2")(x)
        return _dense(layers.Flatten(name="flatten")(x), 256, init, dense_norm)
    # Nature DQN, Mnih et al. 2015
    x = conv(32, 8, 4, "conv1")(x)
    x = conv(64, 4, 2, "conv2")(x)
    x = conv(64, 3, 1, "conv3")(x)
    return _dense(layers.Flatten(name="flatten")(x), 512, init, dense_norm)


def _dense(x, units: int, init: str, norm: bool):
    """The torso's dense ReLU layer, named "fc" either way; with `norm`, LayerNorm of its pre-activations
    first: no step of the dense weights can then push every unit below zero at once (see `dense_norm`)."""
    if not norm:
        return layers.Dense(units, activation="relu", name="fc", kernel_initializer=torso_initializer(init))(x)
    x = layers.Dense(units, name="fc_linear", kernel_initializer=torso_initializer(init))(x)
    x = layers.LayerNormalization(name="fc_norm")(x)
    return layers.Activation("relu", name="fc")(x)


def build_model(
    spec: EnvSpec, cfg: ModelConfig, seed: int = 0, algorithm: str | algorithms.Algorithm = "a3c"
) -> keras.Model:
    """Functional model for `algorithm` (a name or an `Algorithm`): torso, then the algorithm's heads.

    Feed-forward: obs [N, *obs_shape] -> the heads, a list even of one (a3c: [logits [N, A], value [N, 1]];
    value methods: [q_values [N, A]]). With `cfg.core == "lstm"`: a sequence model, see `_recurrent`.
    """
    algo = algorithms.get(algorithm)
    torso = resolve_torso(spec, cfg)
    if torso in ("paper", "nature"):
        if not spec.is_pixels or len(spec.obs_shape) != 3:
            raise ConfigError(f"model.torso: {torso!r} needs image observations, this env gives {spec.obs_shape}")
        smallest = MIN_SCREEN[torso]
        if min(spec.obs_shape[1:]) < smallest:
            raise ConfigError(
                f"env.screen_size: the {torso!r} torso needs at least {smallest} pixels, got {spec.obs_shape[1:]}"
            )
    keras.utils.set_random_seed(seed)
    obs = keras.Input(shape=spec.obs_shape, dtype=spec.obs_dtype, name="obs")
    features = _torso(obs, spec, cfg, torso)  # [N, F]
    if cfg.core == "lstm":
        return _recurrent(spec, cfg, keras.Model(obs, features, name=f"torso_{torso}"), torso, algo)
    heads = algo.build_heads(features, spec.num_actions)
    return keras.Model(obs, heads, name=f"{algo.model_prefix}_{torso}")


def _torso(obs, spec: EnvSpec, cfg: ModelConfig, torso: str):
    """obs [N, *obs_shape] -> features [N, F]."""
    if torso == "mlp":
        x = layers.Flatten(name="flatten")(obs) if len(spec.obs_shape) > 1 else obs
        if spec.is_pixels:
            x = layers.Rescaling(1.0 / 255.0, name="rescale")(x)
        for i, width in enumerate(cfg.mlp_hidden):
            x = layers.Dense(
                width, activation="tanh", name=f"fc{i + 1}", kernel_initializer=torso_initializer(cfg.init)
            )(x)
        return x
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(obs)  # uint8 -> float32 in [0, 1]
    x = layers.Permute((2, 3, 1), name="stack_to_channels")(x)  # [N, S, H, W] -> [N, H, W, S]
    if cfg.center_frames:  # built-in layers only, so an exported .keras file needs no project code
        frame_means = layers.GlobalAveragePooling2D(keepdims=True, name="frame_means")(x)  # [N, 1, 1, S]
        x = layers.Subtract(name="center_frames")([x, frame_means])  # [N, H, W, S], each frame's mean 0
    return _conv_torso(x, torso, cfg.init, cfg.dense_norm)


def _recurrent(
    spec: EnvSpec, cfg: ModelConfig, torso_model: keras.Model, torso: str, algo: algorithms.Algorithm
) -> keras.Model:
    """Torso -> LSTM(`lstm_size`) -> the algorithm's heads, over a sequence (A3C-LSTM, Mnih et al. 2016).

    Inputs: obs [N, T, *obs_shape], resets [N, T] float32 (1: zero the state before step t, an
    episode ended at t-1), h, c [N, H]. Outputs: the heads, each [N, T, ...] (a3c: logits [N, T, A],
    value [N, T, 1]), then h, c [N, H] (the state after step T-1). The actor calls it with T = 1 at
    every step; the learner with T+1 steps from the state the actor stored: one code path, so both
    compute the same outputs.
    """
    obs = keras.Input(shape=(None, *spec.obs_shape), dtype=spec.obs_dtype, name="obs")
    resets = keras.Input(shape=(None,), dtype="float32", name="resets")
    h0 = keras.Input(shape=(cfg.lstm_size,), dtype="float32", name="h")
    c0 = keras.Input(shape=(cfg.lstm_size,), dtype="float32", name="c")
    features = layers.TimeDistributed(torso_model, name="torso")(obs)  # [N, T, F]
    outputs, h, c = ResettableLSTM(cfg.lstm_size, name="lstm")([features, resets, h0, c0])  # [N, T, H]
    heads = algo.build_heads(outputs, spec.num_actions)
    return keras.Model([obs, resets, h0, c0], [*heads, h, c], name=f"{algo.model_prefix}_lstm_{torso}")


@keras.saving.register_keras_serializable(package="asyncrl")
class ResettableLSTM(layers.Layer):
    """Keras' LSTMCell scanned over time, zeroing the state where `resets` says an episode began.

    [features [N, T, F], resets [N, T], h [N, H], c [N, H]] -> [outputs [N, T, H], h [N, H], c [N, H]].
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.cell = layers.LSTMCell(units, name="cell")

    def build(self, input_shapes):
        self.cell.build((None, input_shapes[0][-1]))

    def call(self, inputs):
        features, resets, h, c = inputs

        def step(state, xs):
            feat, reset = xs  # [N, F], [N]
            keep = 1.0 - reset[:, None]
            out, (h, c) = self.cell(feat, [state[0] * keep, state[1] * keep])
            return (h, c), out

        time_major = (ops.transpose(features, (1, 0, 2)), ops.transpose(resets, (1, 0)))
        (h, c), outputs = ops.scan(step, (h, c), time_major)  # outputs [T, N, H]
        return ops.transpose(outputs, (1, 0, 2)), h, c

    def compute_output_spec(self, inputs):
        features, _, h, c = inputs
        out = keras.KerasTensor((*features.shape[:2], self.units), dtype="float32")
        return out, keras.KerasTensor(h.shape, dtype="float32"), keras.KerasTensor(c.shape, dtype="float32")

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def model_variables(model: keras.Model) -> list:
    """Variables in weight-board order: trainable, then non-trainable."""
    return list(model.trainable_variables) + list(model.non_trainable_variables)


def is_recurrent(model: keras.Model) -> bool:
    """A `model.core: lstm` model: inputs (obs [N, T, ...], resets [N, T], h [N, H], c [N, H])."""
    return len(model.inputs) == 4


def core_size(model: keras.Model) -> int:
    """LSTM cells of a recurrent model, 0 for feed-forward (the unroll's core_h/core_c width)."""
    return int(model.inputs[2].shape[-1]) if is_recurrent(model) else 0


def initial_core(model: keras.Model, num_envs: int) -> tuple:
    """Zero recurrent state for `num_envs` envs: (h [E, H], c [E, H]) float32, or () for feed-forward."""
    if not is_recurrent(model):
        return ()
    return tuple(np.zeros((num_envs, int(t.shape[-1])), np.float32) for t in model.inputs[2:])


def reset_core(core: tuple, done) -> tuple:
    """Zero the state rows of envs whose episode just ended (done [E] bool); () stays ()."""
    keep = ~np.asarray(done, bool)[:, None]  # [E, 1]
    return tuple(np.where(keep, np.asarray(x), np.float32(0.0)) for x in core)
