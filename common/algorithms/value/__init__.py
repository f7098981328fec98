"""The value family: 1-step Q-learning, 1-step Sarsa and n-step Q-learning (Mnih et al. 2016,
Algorithms S1, S2 and S3's Q variant).

The model has one head, Q values [N, A]; actors act epsilon-greedily on it, each env with its own
final epsilon (`actor.exploration`), and the learner regresses the taken actions' Q values onto
targets computed with a target network. The three differ only in their targets.
"""

from __future__ import annotations

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


class Sarsa(ValueMethod):
    """On-policy: the target uses the action the actor takes next, so the actor carries it over."""

    carries_next_action = True

    def unroll_fields(self, num_envs: int) -> dict[str, tuple[tuple, str]]:
        return {**super().unroll_fields(num_envs), "bootstrap_action": ((num_envs,), "int32")}  # a_T, at obs[T]


Q_1STEP = ValueMethod("q_1step")
SARSA_1STEP = Sarsa("sarsa_1step")
Q_NSTEP = ValueMethod("q_nstep")
