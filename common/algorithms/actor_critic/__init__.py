"""The actor-critic family: A3C (Mnih et al. 2016), A3C-LSTM (`model.core: lstm`), and A3C with V-trace
targets (`learner.correction: vtrace`, Espeholt et al. 2018).

The model has a policy head (logits [N, A]) and a value head (V [N, 1]); actors sample from the
logits and record them, so the learner can correct for policy lag. The loss math is in `loss.py`.
"""

from __future__ import annotations

from typing import Any

from common.algorithms.base import Algorithm


class ActorCritic(Algorithm):
    family = "actor_critic"
    heads = ("logits", "value")
    model_prefix = "a3c"

    def __init__(self, name: str):
        self.name = name

    def head_sizes(self, num_actions: int) -> list[int]:
        return [num_actions, 1]

    def build_heads(self, features: Any, num_actions: int) -> list:
        """features [..., F] -> [policy logits [..., A], value [..., 1]]."""
        import keras
        from keras import layers

        # A small policy init keeps the first policy near uniform (every action explored).
        logits = layers.Dense(
            num_actions, name="policy_logits", kernel_initializer=keras.initializers.Orthogonal(0.01)
        )(features)
        value = layers.Dense(1, name="value", kernel_initializer=keras.initializers.Orthogonal(1.0))(features)
        return [logits, value]

    def sample_actions(self, outputs: list, keys: tuple, epsilon: Any) -> Any:
        """A sample of the policy: categorical over the logits [E, A] (epsilon is not used)."""
        import jax

        return jax.random.categorical(keys[0], outputs[0])

    def state_value(self, outputs: list) -> Any:
        return outputs[1][:, 0]  # value [E, 1] -> [E]

    def describe_sampling(self, epsilon: float) -> str:
        return "sampling from the policy"

    def make_chunk_loss(self, model: Any, cfg: Any) -> Any:
        """Policy gradient + value_coef x value error - entropy_coef x entropy over a chunk (`a3c_loss_fn`),
        with n-step returns, or V-trace targets from the chunk's behaviour logits (`learner.correction`)."""
        from common.algorithms.actor_critic.loss import a3c_loss_fn
        from common.algorithms.forward import make_actor_critic_unroll

        vtrace = cfg.correction == "vtrace"
        unroll = make_actor_critic_unroll(model)

        def a3c_loss(trainable, non_trainable, target, chunk):
            steps, non_trainable = unroll(trainable, non_trainable, chunk)
            loss, metrics = a3c_loss_fn(
                *steps,
                cfg.gamma,
                cfg.value_coef,
                chunk["entropy_coef"],
                chunk["behaviour_logits"] if vtrace else None,
                cfg.vtrace_rho_bar,
                cfg.vtrace_c_bar,
                cfg.vtrace_lambda,
            )
            return loss, (metrics, non_trainable)

        return a3c_loss


A3C = ActorCritic("a3c")
