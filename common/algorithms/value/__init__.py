"""The value family: 1-step Q-learning, 1-step Sarsa and n-step Q-learning (Mnih et al. 2016,
Algorithms S1, S2 and S3's Q variant).

The model has one head, Q values [N, A]; actors act epsilon-greedily on it, each env with its own
final epsilon (`actor.exploration`), and the learner regresses the taken actions' Q values onto
targets computed with a target network. The three differ only in their targets (`targets`); the
loss math is in `loss.py`.
"""

from __future__ import annotations

import abc
from typing import Any

from common.algorithms.base import Algorithm
from common.config import ConfigError


class ValueMethod(Algorithm):
    family = "value"
    heads = ("q_values",)
    model_prefix = "q"
    uses_epsilon = True
    records_played_actions = True  # Q(s, FIRE) is learned from a FIRE the env served, as from any other
    uses_target_network = True
    greedy_by_default = True  # judged greedy: their training returns include exploration

    def __init__(self, name: str):
        self.name = name

    def check_config(self, cfg) -> None:
        if cfg.model.core == "lstm":
            raise ConfigError(
                f"model.core: the lstm core is built for a3c (A3C-LSTM); {self.name!r} is feed-forward only"
            )
        if cfg.learner.correction == "vtrace":
            raise ConfigError(f"learner.correction: vtrace corrects the actor-critic; {self.name!r} is a value method")

    def head_sizes(self, num_actions: int) -> list[int]:
        return [num_actions]

    def build_heads(self, features: Any, num_actions: int) -> list:
        """features [..., F] -> [Q values [..., A]] (a one-element list: the same calling pattern)."""
        from keras import layers

        return [layers.Dense(num_actions, name="q_values")(features)]

    def unroll_fields(self, num_envs: int) -> dict[str, tuple[tuple, str]]:
        return {"epsilon": ((num_envs,), "float32")}  # each env's exploration epsilon at the unroll's start

    def sample_actions(self, outputs: list, keys: tuple, epsilon: Any) -> Any:
        """Epsilon-greedy on the Q values [E, A]: a uniform random action with probability epsilon."""
        import jax
        import jax.numpy as jnp

        q = outputs[0]
        explore = jax.random.uniform(keys[0], q.shape[:1]) < epsilon
        random_actions = jax.random.randint(keys[1], q.shape[:1], 0, q.shape[-1])
        return jnp.where(explore, random_actions, jnp.argmax(q, axis=-1))

    def state_value(self, outputs: list) -> Any:
        import jax.numpy as jnp

        return jnp.max(outputs[0], axis=-1)  # Q values [E, A] -> [E]

    def describe_sampling(self, epsilon: float) -> str:
        return f"epsilon-greedy (epsilon {epsilon})"

    @abc.abstractmethod
    def targets(self, call, target: list, non_trainable: list, chunk: dict, discounts) -> Any:
        """TD targets [T, c] of the chunk's taken actions, from the target network's weights `target`;
        call: the model over time-major observations (`forward.make_time_major_call`); discounts [T, c]."""

    def make_chunk_loss(self, model: Any, cfg: Any) -> Any:
        """The TD loss (`q_loss_fn`: 0.5 x squared error or Huber) of the online Q values of the taken actions
        against `targets`."""
        import jax.numpy as jnp

        from common.algorithms.forward import make_time_major_call
        from common.algorithms.value.loss import q_loss_fn

        call = make_time_major_call(model)

        def q_loss(trainable, non_trainable, target, chunk):
            discounts = cfg.gamma * (1.0 - chunk["dones"].astype(jnp.float32))  # [T, c]
            (q,), non_trainable = call(trainable, non_trainable, chunk["obs"][:-1])  # [T, c, A]
            targets = self.targets(call, target, non_trainable, chunk, discounts)
            loss, metrics = q_loss_fn(q, chunk["actions"], targets, cfg.td_loss)
            return loss, (metrics, non_trainable)

        return q_loss


class OneStepQ(ValueMethod):
    """Off-policy: y_t = r_t + gamma max_a Q_target(s_{t+1}, a)."""

    def targets(self, call, target, non_trainable, chunk, discounts):
        from common.algorithms.value.loss import q1_targets_fn

        (target_q_next,), _ = call(target, non_trainable, chunk["obs"][1:])  # [T, c, A]
        return q1_targets_fn(chunk["rewards"], discounts, target_q_next)


class OneStepSarsa(ValueMethod):
    """On-policy: the target uses the action the actor takes next, so the actor carries it over."""

    carries_next_action = True
    loss_stream_fields = ("bootstrap_action",)

    def unroll_fields(self, num_envs: int) -> dict[str, tuple[tuple, str]]:
        return {**super().unroll_fields(num_envs), "bootstrap_action": ((num_envs,), "int32")}  # a_T, at obs[T]

    def targets(self, call, target, non_trainable, chunk, discounts):
        import jax.numpy as jnp

        from common.algorithms.value.loss import sarsa_targets_fn

        (target_q_next,), _ = call(target, non_trainable, chunk["obs"][1:])  # [T, c, A]
        # a_{t+1}: the next action in the unroll, after the last step the one carried over ([T, c])
        next_actions = jnp.concatenate([chunk["actions"][1:], chunk["bootstrap_action"][None]], axis=0)
        return sarsa_targets_fn(chunk["rewards"], discounts, target_q_next, next_actions)


class NStepQ(ValueMethod):
    """The unroll's discounted rewards, bootstrapped from max_a Q_target(obs[T], a)."""

    def targets(self, call, target, non_trainable, chunk, discounts):
        from common.algorithms.value.loss import qnstep_targets_fn

        (target_q_last,), _ = call(target, non_trainable, chunk["obs"][-1:])  # [1, c, A]
        return qnstep_targets_fn(chunk["rewards"], discounts, target_q_last[0])


Q_1STEP = OneStepQ("q_1step")
SARSA_1STEP = OneStepSarsa("sarsa_1step")
Q_NSTEP = NStepQ("q_nstep")
