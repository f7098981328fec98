"""APPO: PPO's clipped surrogate on V-trace advantages, several optimizer steps per batch (the asynchronous
PPO of Sample Factory; IMPACT, arXiv 1912.00167, on why a clipped ratio makes reusing a batch safe).

The model, acting and unrolls are A3C's (logits and value heads, sampling from the logits, the actor's
logits recorded as `behaviour_logits`), so weights load across the two. What differs is the learner:
`learner.epochs` passes over each batch, each in `learner.minibatches` optimizer steps on random parts of
whole env streams, on `appo_loss_fn` (`loss.py`), whose ratio's denominator is the actor's policy mu.
"""

from __future__ import annotations

from typing import Any

from common.algorithms.actor_critic import ActorCritic
from common.config import ConfigError


class Appo(ActorCritic):
    family = "appo"

    def __init__(self) -> None:
        super().__init__("appo")

    def check_config(self, cfg) -> None:
        streams = cfg.learner.batch_unrolls * cfg.env.num_envs
        if streams % cfg.learner.minibatches:
            raise ConfigError(
                f"learner.minibatches: {cfg.learner.minibatches} must divide the batch's {streams} env streams "
                f"(learner.batch_unrolls {cfg.learner.batch_unrolls} x env.num_envs {cfg.env.num_envs})"
            )

    def epochs_and_minibatches(self, cfg) -> tuple[int, int]:
        return cfg.epochs, cfg.minibatches

    def make_batch_prologue(self, model: Any, cfg: Any) -> Any:
        """With the weights before the batch's first step: V of every sample (`old_values` [T, c]) for the value
        clip, and the advantages' mean and mean square (averaged over the chunks: the batch's) to normalise them
        with, so every minibatch and chunk is normalised alike and the chunks' gradients add up to the
        minibatch's. None when neither is used."""
        if cfg.value_clip is None and not cfg.normalize_advantages:
            return None
        import jax.numpy as jnp

        from common.algorithms.appo.loss import vtrace_advantages_fn
        from common.algorithms.forward import make_actor_critic_unroll

        unroll = make_actor_critic_unroll(model)

        def prologue(trainable, non_trainable, chunk):
            steps, _ = unroll(trainable, non_trainable, chunk)
            fields = {"old_values": steps[1]} if cfg.value_clip is not None else {}  # values [T, c]
            if not cfg.normalize_advantages:
                return fields, {}
            _, advantages = vtrace_advantages_fn(
                *steps,
                chunk["behaviour_logits"],
                gamma=cfg.gamma,
                rho_bar=cfg.vtrace_rho_bar,
                c_bar=cfg.vtrace_c_bar,
                lambda_=cfg.vtrace_lambda,
            )
            return fields, {"advantage_mean": jnp.mean(advantages), "advantage_square_mean": jnp.mean(advantages**2)}

        return prologue

    def make_chunk_loss(self, model: Any, cfg: Any) -> Any:
        """`appo_loss_fn` over a chunk: the clipped surrogate of pi over the chunk's behaviour logits on V-trace
        advantages (normalised with the batch's statistics), the value error to V-trace targets (clipped around
        `old_values`), the entropy bonus (`chunk["entropy_coef"]`)."""
        from common.algorithms.appo.loss import advantage_stats_fn, appo_loss_fn
        from common.algorithms.forward import make_actor_critic_unroll

        unroll = make_actor_critic_unroll(model)

        def appo_loss(trainable, non_trainable, target, chunk):
            steps, non_trainable = unroll(trainable, non_trainable, chunk)
            stats = None
            if cfg.normalize_advantages:  # the batch's, from the prologue
                stats = advantage_stats_fn(chunk["advantage_mean"], chunk["advantage_square_mean"])
            loss, metrics = appo_loss_fn(
                *steps,
                chunk["behaviour_logits"],
                gamma=cfg.gamma,
                value_coef=cfg.value_coef,
                entropy_coef=chunk["entropy_coef"],
                clip_ratio=cfg.clip_ratio,
                rho_bar=cfg.vtrace_rho_bar,
                c_bar=cfg.vtrace_c_bar,
                lambda_=cfg.vtrace_lambda,
                normalize_advantages=cfg.normalize_advantages,
                old_values=chunk.get("old_values"),
                value_clip=cfg.value_clip,
                advantage_stats=stats,
            )
            if stats is not None:  # the batch's, not this chunk's: the same whatever the chunk size
                metrics["appo/advantage_std"] = stats[1]
            return loss, (metrics, non_trainable)

        return appo_loss


APPO = Appo()
