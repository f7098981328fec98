"""Targets of 1-step Q, 1-step Sarsa and n-step Q against NumPy loops, with terminals inside unrolls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learner.value_losses import q1_targets_fn, q_loss_fn, qnstep_targets_fn, sarsa_targets_fn

T, N, A, GAMMA = 6, 5, 4, 0.97


def _inputs(seed):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    dones = rng.random((T, N)) < 0.3
    dones[2, 0] = dones[T - 1, 1] = True  # an end mid-unroll and one at its last step
    target_q_next = rng.normal(size=(T, N, A)).astype(np.float32)  # target Q of obs[t+1]
    next_actions = rng.integers(0, A, size=(T, N)).astype(np.int32)
    return rewards, dones, target_q_next, next_actions


def _discounts(dones):
    return GAMMA * (1.0 - dones.astype(np.float32))


def np_one_step_targets(rewards, dones, bootstrap):
    """y[t, n] = r + gamma * bootstrap(t, n), the bootstrap dropped after an episode end."""
    ref = np.zeros((T, N))
    for t in range(T):
        for n in range(N):
            ref[t, n] = rewards[t, n] + (0.0 if dones[t, n] else GAMMA * bootstrap(t, n))
    return ref


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_q1_targets(seed):
    rewards, dones, tq, _ = _inputs(seed)
    ref = np_one_step_targets(rewards, dones, lambda t, n: max(tq[t, n]))
    got = q1_targets_fn(jnp.asarray(rewards), jnp.asarray(_discounts(dones)), jnp.asarray(tq))
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sarsa_targets(seed):
    rewards, dones, tq, next_actions = _inputs(seed)
    ref = np_one_step_targets(rewards, dones, lambda t, n: tq[t, n, next_actions[t, n]])
    got = sarsa_targets_fn(
        jnp.asarray(rewards), jnp.asarray(_discounts(dones)), jnp.asarray(tq), jnp.asarray(next_actions)
    )
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qnstep_targets(seed):
    rewards, dones, tq, _ = _inputs(seed)
    target_q_last = tq[-1]  # [N, A]: target Q of obs[T]
    ref = np.zeros((T, N))
    for n in range(N):  # Algorithm S2: R <- max_a Q_target(s_T, a), then R <- r_i + gamma R backwards
        R = max(target_q_last[n])
        for t in reversed(range(T)):
            R = rewards[t, n] + (0.0 if dones[t, n] else GAMMA * R)
            ref[t, n] = R
    got = qnstep_targets_fn(jnp.asarray(rewards), jnp.asarray(_discounts(dones)), jnp.asarray(target_q_last))
    np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["squared", "huber"])
def test_q_loss_and_its_gradient(kind):
    rng = np.random.default_rng(3)
    q = rng.normal(size=(T, N, A)).astype(np.float32) * 3
    actions = rng.integers(0, A, size=(T, N)).astype(np.int32)
    targets = rng.normal(size=(T, N)).astype(np.float32) * 3
    td = targets - np.take_along_axis(q, actions[..., None], -1)[..., 0]
    per = 0.5 * td**2 if kind == "squared" else np.where(np.abs(td) <= 1, 0.5 * td**2, np.abs(td) - 0.5)
    loss, m = q_loss_fn(jnp.asarray(q), jnp.asarray(actions), jnp.asarray(targets), kind)
    np.testing.assert_allclose(float(loss), per.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(m["losses/td_error"]), np.abs(td).mean(), rtol=1e-5)
    # Only the taken action's Q moves, by -td (clipped to [-1, 1] for Huber) / (T*N).
    grad = np.asarray(
        jax.grad(lambda x: q_loss_fn(x, jnp.asarray(actions), jnp.asarray(targets), kind)[0])(jnp.asarray(q))
    )
    expected = np.zeros_like(q)
    dtd = td if kind == "squared" else np.clip(td, -1, 1)
    np.put_along_axis(expected, actions[..., None], (-dtd / (T * N))[..., None], -1)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


def test_targets_carry_no_gradient():
    q = jnp.ones((1, 1, 2))
    grad = jax.grad(lambda t: q_loss_fn(q, jnp.array([[0]]), t)[0])(jnp.array([[2.0]]))
    assert float(grad[0, 0]) == 0.0
