"""Discounted returns shared by the families, as pure `jax.numpy` over time-major arrays.

Conventions of every loss module: arrays are `[T, N]` (time, batch of env streams); `dones[t]`
means the episode ended after `actions[t]`, so `discounts[t] = gamma * (1 - dones[t])` cuts the
return there.
"""

from __future__ import annotations

import jax


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
