"""The actor-critic loss (A3C, with n-step returns or V-trace targets) as pure `jax.numpy` functions over
time-major arrays.

Conventions: arrays are `[T, N]` (time, batch of env streams). `dones[t]` means
the episode ended after `actions[t]`, so the return at `t` must not look past
`t`: the discount at `t` is `gamma * (1 - dones[t])`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from common.algorithms.returns import nstep_returns_fn


def a3c_loss_fn(
    logits,
    values,
    bootstrap_value,
    actions,
    rewards,
    dones,
    gamma,
    value_coef,
    entropy_coef,
    behaviour_logits=None,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    lambda_: float = 1.0,
):
    """Advantage actor-critic loss (Mnih et al. 2016, Algorithm S3), averaged over T*N.

    logits: [T, N, A]; values: [T, N]; bootstrap_value: [N] (V of obs[T]);
    actions: [T, N] int; rewards: [T, N]; dones: [T, N] bool.
    behaviour_logits [T, N, A] (the actor's logits): correct for policy lag with V-trace
    targets and advantages instead of n-step returns (`vtrace_fn`).
    Returns (total_loss, dict of scalar metrics).
    """
    discounts = gamma * (1.0 - dones.astype(jnp.float32))
    if behaviour_logits is None:
        returns = jax.lax.stop_gradient(nstep_returns_fn(rewards, discounts, bootstrap_value))
        advantages = jax.lax.stop_gradient(returns - values)
    else:
        returns, advantages = vtrace_fn(
            behaviour_logits, logits, actions, rewards, discounts, values, bootstrap_value, rho_bar, c_bar, lambda_
        )

    log_probs = jax.nn.log_softmax(logits)  # [T, N, A]
    action_log_probs = jnp.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
    pg_loss = -jnp.mean(action_log_probs * advantages)
    baseline_loss = jnp.mean(jnp.square(returns - values))
    return actor_critic_total(pg_loss, baseline_loss, logits, values, value_coef, entropy_coef)


def actor_critic_total(pg_loss, baseline_loss, logits, values, value_coef, entropy_coef):
    """total = pg_loss + value_coef * baseline_loss - entropy_coef * entropy (the policy's mean entropy over
    logits [T, N, A]) -> (total, the `losses/*` metrics); values [T, N] for their mean. Every actor-critic
    family's loss ends here."""
    log_probs = jax.nn.log_softmax(logits)  # [T, N, A]
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


def vtrace_fn(
    behaviour_logits,
    target_logits,
    actions,
    rewards,
    discounts,
    values,
    bootstrap_value,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    lambda_: float = 1.0,
):
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018, IMPALA, eq. 1, sec. 4.2, remark 2).

    behaviour_logits, target_logits: [T, N, A] (the actor's policy mu, the learner's pi);
    actions, rewards, discounts, values: [T, N]; bootstrap_value: [N] (V of obs[T]).
    rho_t = min(rho_bar, pi/mu), c_t = lambda_ * min(c_bar, pi/mu) (on-policy, lambda_ < 1 is GAE's lambda);
    v_s = V(x_s) + delta_s + discount_s c_s (v_{s+1} - V(x_{s+1})),
    delta_s = rho_s (r_s + discount_s V(x_{s+1}) - V(x_s));
    advantage_s = rho_s (r_s + discount_s v_{s+1} - V(x_s)).
    Returns (vs [T, N], pg_advantages [T, N]), both without gradient.
    """

    def log_prob(logits):
        return jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None], axis=-1)[..., 0]

    rhos = jnp.exp(log_prob(target_logits) - log_prob(behaviour_logits))  # [T, N]
    clipped_rhos = jnp.minimum(rho_bar, rhos)
    cs = lambda_ * jnp.minimum(c_bar, rhos)
    values_next = jnp.concatenate([values[1:], bootstrap_value[None]], axis=0)  # V(x_{t+1})
    deltas = clipped_rhos * (rewards + discounts * values_next - values)

    def backward(acc, xs):
        delta, discount, c = xs
        acc = delta + discount * c * acc
        return acc, acc

    _, vs_minus_v = jax.lax.scan(backward, jnp.zeros_like(bootstrap_value), (deltas, discounts, cs), reverse=True)
    vs = vs_minus_v + values
    vs_next = jnp.concatenate([vs[1:], bootstrap_value[None]], axis=0)
    pg_advantages = clipped_rhos * (rewards + discounts * vs_next - values)
    return jax.lax.stop_gradient(vs), jax.lax.stop_gradient(pg_advantages)
