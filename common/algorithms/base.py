"""The algorithm interface: what makes an algorithm that algorithm, asked by the rest of the code.

An `Algorithm` answers every question on which the algorithms differ: the model's heads after
the torso (and core), how an actor picks an action and values a state, which fields its unrolls
carry besides the common ones, which config settings it cannot use, and how a batch is counted.
Nothing outside `common/algorithms/` compares the config's `algorithm` name; it asks
`common.algorithms.get(cfg)` instead.

This module and the family packages import no JAX or Keras at import time (the config's checks
ask the registry); the methods that build layers or trace JAX functions import them when called.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.config import Config, LearnerConfig


@dataclass(frozen=True)
class UpdateSchedule:
    """How a run counts its training.

    The learner trains on one batch (B unrolls x T agent steps x E envs) per update and publishes at most
    one policy version per update: a policy version is the number of batches trained, everywhere (the
    weight board, the unrolls' tags, the policy lag, the epsilon schedule, the evaluations' frames). One
    batch gives `optimizer_steps_per_batch` optimizer steps (`epochs` passes over it in `minibatches` parts,
    each part whole env streams); the learning-rate schedule counts optimizer steps, so over frames it runs
    the same whatever that number is.
    """

    frames_per_batch: int  # B x T x E x frames per agent step
    epochs: int = 1
    minibatches: int = 1

    @property
    def optimizer_steps_per_batch(self) -> int:
        return self.epochs * self.minibatches

    def frames_at(self, version: int) -> int:
        """Frames the learner had trained on when it published policy `version`."""
        return version * self.frames_per_batch

    def batches_for(self, frames: int) -> int:
        """Batches (updates) that train on at least `frames` frames."""
        return math.ceil(frames / self.frames_per_batch)

    def optimizer_steps(self, batches: int) -> int:
        """The optimizer's iteration count after `batches` batches: the learning-rate schedule's position."""
        return batches * self.optimizer_steps_per_batch


class Algorithm(abc.ABC):
    """One algorithm: its name, its family, and its answers. Instances live in the registry
    (`common.algorithms.get`); they hold no state.

    Properties (class attributes):
      name: the config's `algorithm` value.
      family: the folder under `common/algorithms/` that defines it.
      heads: names of the model's outputs after the torso (or core), in order; heads[0] is the per-action
        head [N, A]: the one greedy acting takes the argmax of and the unrolls record as `behaviour_logits`.
      model_prefix: the Keras model is named `<model_prefix>_<torso>` (`<model_prefix>_lstm_<torso>`).
      uses_epsilon: actors act epsilon-greedily with a per-env annealed epsilon (unroll field `epsilon`),
        and sampling in play / evaluate takes `--epsilon`.
      records_played_actions: unrolls hold the actions the env played (a FIRE it served after a lost life
        included) rather than the ones the policy chose.
      carries_next_action: the actor chooses a_T at the end of every unroll, records it as
        `bootstrap_action` and plays it first in the next unroll (Sarsa).
      uses_target_network: the learner keeps a target copy of the weights, refreshed every
        `learner.target_update_frames` (saved in checkpoints).
      greedy_by_default: `actor.play` acts greedily unless told `--sample`.
      loss_stream_fields: unroll fields of shape [E, ...] the chunk loss reads (the timed ones, obs, actions,
        rewards, dones and behaviour_logits, it always gets; an LSTM's core_h/core_c too).
    """

    name: str
    family: str
    heads: tuple[str, ...]
    model_prefix: str
    uses_epsilon: bool = False
    records_played_actions: bool = False
    carries_next_action: bool = False
    uses_target_network: bool = False
    greedy_by_default: bool = False
    loss_stream_fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<algorithm {self.name} ({self.family})>"

    # ------------------------------------------------------------ config

    def check_config(self, cfg: Config) -> None:
        """ConfigError (one line) for a setting this algorithm cannot use; called by `common.config`."""
        return None  # by default every setting fits

    def schedule(self, cfg: Config, frames_per_step: int) -> UpdateSchedule:
        """How this run counts batches, policy versions, frames and optimizer steps (`UpdateSchedule`)."""
        frames = cfg.learner.batch_unrolls * cfg.actor.unroll_length * cfg.env.num_envs * frames_per_step
        epochs, minibatches = self.epochs_and_minibatches(cfg.learner)
        return UpdateSchedule(frames, epochs, minibatches)

    def epochs_and_minibatches(self, cfg: LearnerConfig) -> tuple[int, int]:
        """How one batch becomes optimizer steps: `epochs` passes over it, each in `minibatches` parts of whole
        env streams, one optimizer step per part. (1, 1): one step on the whole batch."""
        return 1, 1

    # ------------------------------------------------------------ model and unrolls

    @abc.abstractmethod
    def head_sizes(self, num_actions: int) -> list[int]:
        """The last dimension of each head, in `heads` order."""

    @abc.abstractmethod
    def build_heads(self, features: Any, num_actions: int) -> list:
        """Keras layers on `features` [..., F] -> the heads, in `heads` order (names are the weight layout)."""

    def unroll_fields(self, num_envs: int) -> dict[str, tuple[tuple, str]]:
        """Fields this algorithm's unrolls carry besides the common ones: name -> (shape, dtype)."""
        return {}

    # ------------------------------------------------------------ acting (traced inside jitted steps)

    @abc.abstractmethod
    def sample_actions(self, outputs: list, keys: tuple, epsilon: Any) -> Any:
        """outputs (the heads, each [E, ...]), two fresh random keys, epsilon (a number or [E]) -> actions [E]."""

    def greedy_actions(self, outputs: list) -> Any:
        """The argmax of the per-action head: actions [E] (evaluation, play)."""
        import jax.numpy as jnp

        return jnp.argmax(outputs[0], axis=-1)

    @abc.abstractmethod
    def state_value(self, outputs: list) -> Any:
        """The heads at a state -> its value [E] (bootstraps a game cut by a time limit)."""

    @abc.abstractmethod
    def describe_sampling(self, epsilon: float) -> str:
        """How this algorithm's non-greedy policy acts, in words (play's protocol line)."""

    # ------------------------------------------------------------ learning (traced inside the jitted train step)

    @abc.abstractmethod
    def make_chunk_loss(self, model: Any, cfg: LearnerConfig) -> Any:
        """(trainable, non_trainable, target, chunk) -> (loss, (metrics, non_trainable)) for one chunk of c env
        streams. `chunk` is time-major: obs [T+1, c, ...], actions, rewards, dones [T, c], behaviour_logits
        [T, c, A], the `loss_stream_fields` [c, ...], core_h/core_c [c, H] for an LSTM, and entropy_coef (a
        traced scalar). `target`: the target network's trainable values ([] without one). metrics: scalars
        named `losses/*`."""

    def make_batch_prologue(self, model: Any, cfg: LearnerConfig) -> Any:
        """None (the default), or what the loss needs from the weights as they were before a batch's first
        optimizer step: (trainable, non_trainable, chunk) -> (fields, scalars), run once per batch over its chunks
        (the `make_chunk_loss` chunk, without entropy_coef). fields: {name: [T, c]}, which every later chunk
        carries for its own streams; scalars: {name: scalar}, averaged over the batch's chunks, which every
        later chunk carries as they are. No gradient flows through either."""
        return None

    def make_optimizer(self, cfg: LearnerConfig, lr_schedule: Any) -> Any:
        """The Keras optimizer `learner.optimizer`, driven by `lr_schedule` (optimizer step -> learning rate) when
        annealed, its global gradient norm clipped to `max_grad_norm`: RMSprop with the paper's settings (Mnih et
        al. 2016: shared statistics, rho 0.99, epsilon 0.1) by default, or Adam."""
        import keras

        lr = lr_schedule if cfg.anneal_lr else cfg.learning_rate
        if cfg.optimizer == "adam":
            return keras.optimizers.Adam(learning_rate=lr, epsilon=cfg.adam_epsilon, global_clipnorm=cfg.max_grad_norm)
        return keras.optimizers.RMSprop(
            learning_rate=lr, rho=cfg.rms_rho, epsilon=cfg.rms_epsilon, global_clipnorm=cfg.max_grad_norm
        )
