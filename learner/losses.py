"""A3C loss as pure `jax.numpy` functions over time-major arrays.

Conventions: arrays are `[T, N]` (time, batch of env streams). `dones[t]` means
the episode ended after `actions[t]`, so the return at `t` must not look past
`t`: the discount at `t` is `gamma * (1 - dones[t])`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def nstep_returns_fn(rewards, discounts, bootstrap_value):
    """R_t = r_t + discounts_t * R_{t+1}, with R_T = bootstrap_value.

    rewards, discounts: [T, N] float32; bootstrap_value: [N] -> returns [T, N].
    """

    def backward(carry, xs):
        r, d = xs
        ret = r + d * carry
        return ret, ret

    _, returns = jax.lax.scan(backward, bootstrap_value, (rewards, discounts), reverse=True)
    return returns


def a3c_loss_fn(logits, values, bootstrap_value, actions, rewards, dones, gamma, value_coef, entropy_coef):
    """Advantage actor-critic loss (Mnih et al. 2016, Algorithm S3), averaged over T*N.

    logits: [T, N, A]; values: [T, N]; bootstrap_value: [N] (V of obs[T]);
    actions: [T, N] int; rewards: [T, N]; dones: [T, N] bool.
    Returns (total_loss, dict of scalar metrics).
    """
    discounts = gamma * (1.0 - dones.astype(jnp.float32))
    returns = jax.lax.stop_gradient(nstep_returns_fn(rewards, discounts, bootstrap_value))
    advantages = jax.lax.stop_gradient(returns - values)

    log_probs = jax.nn.log_softmax(logits)  # [T, N, A]
    action_log_probs = jnp.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
    pg_loss = -jnp.mean(action_log_probs * advantages)
    baseline_loss = jnp.mean(jnp.square(returns - values))
    entropy = -jnp.mean(jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1))

    total = pg_loss + value_coef * baseline_loss - entropy_coef * entropy
    metrics = {
        "losses/total": total,
        "losses/pg_loss": pg_loss,
        "losses/baseline_loss": baseline_loss,
        "losses/entropy": entropy,
        "losses/mean_value": jnp.mean(values),
    }
    return total, metrics
