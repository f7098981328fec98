"""Targets and loss of the value-based methods (Mnih et al. 2016, Algorithms S1, S2 and S3's Q variant).

Pure `jax.numpy` over time-major arrays, the conventions of `common.algorithms.returns`:
arrays are `[T, N]`; `dones[t]` means the episode ended after `actions[t]`, so
`discounts[t] = gamma * (1 - dones[t])` cuts every bootstrap across an episode end.
`target_q_next[t]` is the target network's Q of `obs[t+1]`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from common.algorithms.returns import nstep_returns_fn


def q1_targets_fn(rewards, discounts, target_q_next):
    """1-step Q-learning: y_t = r_t + discount_t * max_a Q_target(s_{t+1}, a).

    rewards, discounts: [T, N]; target_q_next: [T, N, A] -> [T, N].
    """
    return rewards + discounts * jnp.max(target_q_next, axis=-1)


def sarsa_targets_fn(rewards, discounts, target_q_next, next_actions):
    """1-step Sarsa: y_t = r_t + discount_t * Q_target(s_{t+1}, a_{t+1}), a_{t+1} the action taken next.

    rewards, discounts: [T, N]; target_q_next: [T, N, A]; next_actions: [T, N] int -> [T, N].
    """
    q_taken = jnp.take_along_axis(target_q_next, next_actions[..., None], axis=-1)[..., 0]
    return rewards + discounts * q_taken


def qnstep_targets_fn(rewards, discounts, target_q_last):
    """n-step Q-learning: R_t = r_t + discount_t * R_{t+1}, R_T = max_a Q_target(s_T, a).

    rewards, discounts: [T, N]; target_q_last: [N, A] (target Q of obs[T]) -> [T, N].
    """
    return nstep_returns_fn(rewards, discounts, jnp.max(target_q_last, axis=-1))


def q_loss_fn(q_values, actions, targets, td_loss: str = "squared"):
    """Mean TD loss of the taken actions' Q values against fixed targets.

    q_values: [T, N, A] (online network); actions: [T, N] int; targets: [T, N].
    squared: 0.5 * td^2 (its gradient is the TD error); huber: quadratic within |td| <= 1, linear beyond.
    Returns (loss, dict of scalar metrics).
    """
    targets = jax.lax.stop_gradient(targets)
    q_taken = jnp.take_along_axis(q_values, actions[..., None], axis=-1)[..., 0]
    td = targets - q_taken
    if td_loss == "huber":
        abs_td = jnp.abs(td)
        per_step = jnp.where(abs_td <= 1.0, 0.5 * jnp.square(td), abs_td - 0.5)
    else:
        per_step = 0.5 * jnp.square(td)
    loss = jnp.mean(per_step)
    metrics = {
        "losses/total": loss,
        "losses/td_error": jnp.mean(jnp.abs(td)),
        "losses/mean_q": jnp.mean(q_taken),
        "losses/mean_target": jnp.mean(targets),
    }
    return loss, metrics
