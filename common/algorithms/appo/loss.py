"""APPO loss as pure `jax.numpy` functions: the PPO clipped surrogate on V-trace advantages.

Conventions are those of `common/algorithms/actor_critic/loss.py`: arrays are `[T, N]` (time, batch of env
streams), and `dones[t]` means the episode ended after `actions[t]`, so the discount at `t`
is `gamma * (1 - dones[t])` and an episode end inside an unroll cuts the bootstrap.

The ratio's denominator is the behaviour policy mu, the actor's logits that made the sample
(APPO, and IMPACT with its target network taken to be the behaviour policy). Minibatches are
cut over env streams, never over time, because V-trace runs along time (`learner.train_step`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from common.algorithms.actor_critic.loss import actor_critic_total, vtrace_fn

ADVANTAGE_EPS = 1e-8  # keeps the normalisation finite when every advantage is equal


def _action_log_probs(logits, actions):
    """logits [T, N, A], actions [T, N] int -> log softmax(logits)[a] [T, N]."""
    return jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None], axis=-1)[..., 0]


def _normalize(advantages, stats=None):
    """[T, N] -> [T, N] with mean 0 and standard deviation 1 over all T*N samples, or shifted and scaled by
    `stats` (mean, std), scalars: a larger sample's (`advantage_stats_fn`)."""
    mean, std = stats if stats is not None else (jnp.mean(advantages), jnp.std(advantages))
    return (advantages - mean) / (std + ADVANTAGE_EPS)


def advantage_stats_fn(mean, square_mean):
    """(mean, standard deviation) of advantages from their mean and the mean of their squares (scalars, each the
    mean of equal-sized chunks' means: a batch's statistics gathered chunk by chunk)."""
    return mean, jnp.sqrt(jnp.maximum(square_mean - jnp.square(mean), 0.0))


def vtrace_advantages_fn(
    logits, values, bootstrap_value, actions, rewards, dones, behaviour_logits, *, gamma, rho_bar=1, c_bar=1, lambda_=1
):
    """V-trace targets vs and policy-gradient advantages, both [T, N] and without gradient; arguments as
    `appo_loss_fn`'s."""
    discounts = gamma * (1.0 - dones.astype(jnp.float32))
    return vtrace_fn(
        behaviour_logits, logits, actions, rewards, discounts, values, bootstrap_value, rho_bar, c_bar, lambda_
    )


def _surrogate(log_ratio, advantages, clip_ratio):
    """PPO clipped surrogate loss and ratio metrics; log_ratio, advantages: [T, N]."""
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_ratio, 1.0 + clip_ratio) * advantages
    pg_loss = -jnp.mean(jnp.minimum(unclipped, clipped))
    metrics = {
        "appo/ratio_mean": jnp.mean(ratio),
        "appo/ratio_max": jnp.max(ratio),
        "appo/clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > clip_ratio).astype(jnp.float32)),
        # (r - 1) - log r >= 0 estimates KL(mu || pi) from samples of mu without sign noise.
        "appo/approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
    }
    return pg_loss, jax.lax.stop_gradient(metrics)


def _value_loss(values, vs, old_values, value_clip):
    """0.5 * mean squared error to the V-trace targets vs, all [T, N].

    With value_clip, the PPO pessimistic form: the larger of the plain error and the error of
    old_values + clip(values - old_values, -value_clip, value_clip), so no sample's value moves
    more than value_clip away from old_values through this batch's epochs.
    """
    error = jnp.square(values - vs)
    if value_clip is None:
        return 0.5 * jnp.mean(error)
    if old_values is None:
        raise ValueError("value_clip needs old_values (V of the same observations before this batch's updates)")
    old_values = jax.lax.stop_gradient(old_values)
    clipped_values = old_values + jnp.clip(values - old_values, -value_clip, value_clip)
    return 0.5 * jnp.mean(jnp.maximum(error, jnp.square(clipped_values - vs)))


def appo_loss_fn(
    logits,
    values,
    bootstrap_value,
    actions,
    rewards,
    dones,
    behaviour_logits,
    *,
    gamma: float,
    value_coef: float,
    entropy_coef: float,
    clip_ratio: float,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    lambda_: float = 1.0,
    normalize_advantages: bool = True,
    old_values=None,
    value_clip: float | None = None,
    advantage_stats=None,
):
    """APPO loss (PPO clipped surrogate on V-trace advantages), averaged over T*N.

    logits: [T, N, A] (the learner's current policy pi); values: [T, N] (current V);
    bootstrap_value: [N] (V of obs[T]); actions: [T, N] int; rewards: [T, N]; dones: [T, N] bool;
    behaviour_logits: [T, N, A] (the actor's policy mu that chose the actions);
    old_values: [T, N] or None, V before this batch's first optimizer step, used only with value_clip.
    advantage_stats: (mean, std) scalars to normalise the advantages with (a whole batch's, while this call
    sees one chunk of it); None: these T*N advantages' own.

    ratio = pi(a) / mu(a): PPO's "old policy" is the behaviour policy mu, not a snapshot of the
    learner, so one clip bounds both the policy lag of the sample and the drift of pi over the
    epochs (APPO; IMPACT with target network = behaviour). V-trace (`vtrace_fn`, current values,
    no gradient) gives the value targets vs and advantages rho_t (r_t + discount_t vs_{t+1} - V_t).
    total = pg_loss + value_coef * baseline_loss - entropy_coef * entropy.
    Returns (total_loss, dict of scalar metrics).
    """
    vs, advantages = vtrace_advantages_fn(
        logits,
        values,
        bootstrap_value,
        actions,
        rewards,
        dones,
        behaviour_logits,
        gamma=gamma,
        rho_bar=rho_bar,
        c_bar=c_bar,
        lambda_=lambda_,
    )
    advantage_std = jnp.std(advantages)
    if normalize_advantages:
        advantages = _normalize(advantages, advantage_stats)

    # PPO's old policy is the actor's mu, which made the sample: one clip bounds policy lag and epoch drift.
    behaviour_log_probs = jax.lax.stop_gradient(_action_log_probs(behaviour_logits, actions))
    log_ratio = _action_log_probs(logits, actions) - behaviour_log_probs  # [T, N]
    pg_loss, metrics = _surrogate(log_ratio, advantages, clip_ratio)
    baseline_loss = _value_loss(values, vs, old_values, value_clip)
    total, losses = actor_critic_total(pg_loss, baseline_loss, logits, values, value_coef, entropy_coef)
    return total, metrics | losses | {"appo/advantage_std": advantage_std}
