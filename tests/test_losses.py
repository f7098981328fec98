"""A3C loss math against a plain NumPy reference, with episode ends inside unrolls."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learner.losses import a3c_loss_fn, nstep_returns_fn, vtrace_fn


def np_returns(rewards, dones, bootstrap, gamma):
    """Loop written from the paper: R <- r_t + gamma * R, R reset to 0 at episode ends."""
    T, N = rewards.shape
    out = np.zeros((T, N))
    for n in range(N):
        R = bootstrap[n]
        for t in reversed(range(T)):
            R = rewards[t, n] + (0.0 if dones[t, n] else gamma * R)
            out[t, n] = R
    return out


def np_loss(logits, values, bootstrap, actions, rewards, dones, gamma, vc, ec):
    R = np_returns(rewards, dones, bootstrap, gamma)
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    T, N, _ = logits.shape
    pg = 0.0
    for t in range(T):
        for n in range(N):
            pg += -logp[t, n, actions[t, n]] * (R[t, n] - values[t, n])
    pg /= T * N
    baseline = np.mean((R - values) ** 2)
    entropy = np.mean(-(np.exp(logp) * logp).sum(-1))
    return pg + vc * baseline - ec * entropy, pg, baseline, entropy


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_returns_match_reference_with_terminals(seed):
    rng = np.random.default_rng(seed)
    T, N, gamma = 7, 5, 0.97
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    dones = rng.random((T, N)) < 0.3
    dones[2, 0] = True  # at least one terminal mid-unroll
    bootstrap = rng.normal(size=N).astype(np.float32)
    discounts = gamma * (1.0 - dones.astype(np.float32))
    got = nstep_returns_fn(jnp.asarray(rewards), jnp.asarray(discounts), jnp.asarray(bootstrap))
    np.testing.assert_allclose(np.asarray(got), np_returns(rewards, dones, bootstrap, gamma), rtol=1e-5, atol=1e-5)


def test_terminal_cuts_bootstrap():
    rewards = np.array([[1.0], [1.0], [1.0]], np.float32)
    dones = np.array([[False], [True], [False]])
    got = np.asarray(nstep_returns_fn(rewards, 0.5 * (1.0 - dones.astype(np.float32)), np.array([100.0], np.float32)))
    # t=2 bootstraps from 100; t=1 ends the episode so t=0 and t=1 never see it.
    np.testing.assert_allclose(got[:, 0], [1.5, 1.0, 51.0])


@pytest.mark.parametrize("seed", [0, 1])
def test_a3c_loss_matches_reference(seed):
    rng = np.random.default_rng(seed)
    T, N, A = 6, 4, 5
    logits = rng.normal(size=(T, N, A)).astype(np.float32)
    values = rng.normal(size=(T, N)).astype(np.float32)
    bootstrap = rng.normal(size=N).astype(np.float32)
    actions = rng.integers(0, A, size=(T, N)).astype(np.int32)
    rewards = rng.normal(size=(T, N)).astype(np.float32)
    dones = rng.random((T, N)) < 0.25
    total, m = a3c_loss_fn(logits, values, bootstrap, actions, rewards, dones, 0.99, 0.5, 0.01)
    ref_total, pg, baseline, entropy = np_loss(logits, values, bootstrap, actions, rewards, dones, 0.99, 0.5, 0.01)
    np.testing.assert_allclose(float(total), ref_total, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(m["losses/pg_loss"]), pg, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(m["losses/baseline_loss"]), baseline, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(m["losses/entropy"]), entropy, rtol=1e-4, atol=1e-5)


def test_policy_gradient_pushes_toward_advantaged_action():
    # One step, positive advantage for action 1: the gradient must raise logit 1.
    logits = jnp.zeros((1, 1, 3))
    grad = jax.grad(
        lambda lg: a3c_loss_fn(
            lg, jnp.zeros((1, 1)), jnp.zeros(1), jnp.array([[1]]), jnp.ones((1, 1)), jnp.array([[True]]), 0.99, 0.5, 0.0
        )[0]
    )(logits)
    assert grad[0, 0, 1] < 0 and grad[0, 0, 0] > 0 and grad[0, 0, 2] > 0


def np_vtrace(
    behaviour_logits, target_logits, actions, rewards, dones, values, bootstrap, gamma, rho_bar, c_bar, lambda_=1.0
):
    """IMPALA eq. 1 as written: v_s = V(x_s) + sum_{t>=s} gamma^{t-s} (prod_{i=s}^{t-1} c_i) delta_t V,
    with every product and sum cut at an episode end (gamma_t = 0 after a terminal); c_i = lambda_ min(c_bar, ratio_i)
    (remark 2)."""

    def logp(lg):
        z = lg - lg.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    T, N = rewards.shape
    lp_t = np.take_along_axis(logp(target_logits), actions[..., None], -1)[..., 0]
    lp_b = np.take_along_axis(logp(behaviour_logits), actions[..., None], -1)[..., 0]
    ratio = np.exp(lp_t - lp_b)
    rho, c = np.minimum(rho_bar, ratio), lambda_ * np.minimum(c_bar, ratio)
    disc = gamma * (1.0 - dones)
    v_next = np.concatenate([values[1:], bootstrap[None]])
    delta = rho * (rewards + disc * v_next - values)
    vs = np.zeros((T, N))
    for n in range(N):
        for s in range(T):
            total, weight = 0.0, 1.0
            for t in range(s, T):
                total += weight * delta[t, n]
                weight *= disc[t, n] * c[t, n]  # gamma^{t-s} prod c_i, zero once an episode ended
            vs[s, n] = values[s, n] + total
    vs_next = np.concatenate([vs[1:], bootstrap[None]])
    adv = rho * (rewards + disc * vs_next - values)
    return vs, adv


def _vtrace_inputs(seed, T=7, N=4, A=3):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    dones = rng.random((T, N)) < 0.25
    dones[3, 1] = True
    return (f(T, N, A), f(T, N, A), rng.integers(0, A, (T, N)).astype(np.int32), f(T, N), dones, f(T, N), f(N))


@pytest.mark.parametrize(
    "seed,rho_bar,c_bar,lambda_",
    [
        (0, 1.0, 1.0, 1.0),
        (1, 1.0, 1.0, 1.0),
        (2, 2.0, 0.5, 1.0),
        (3, 0.7, 1.3, 1.0),
        (4, 1.0, 1.0, 0.95),
        (5, 2.0, 0.5, 0.5),
    ],
)
def test_vtrace_matches_reference(seed, rho_bar, c_bar, lambda_):
    mu, pi, actions, rewards, dones, values, bootstrap = _vtrace_inputs(seed)
    gamma = 0.95
    discounts = gamma * (1.0 - dones.astype(np.float32))
    vs, adv = vtrace_fn(mu, pi, actions, rewards, discounts, values, bootstrap, rho_bar, c_bar, lambda_)
    ref_vs, ref_adv = np_vtrace(mu, pi, actions, rewards, dones, values, bootstrap, gamma, rho_bar, c_bar, lambda_)
    np.testing.assert_allclose(np.asarray(vs), ref_vs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(adv), ref_adv, rtol=1e-4, atol=1e-4)


def test_vtrace_on_policy_equals_nstep_returns():
    _, pi, actions, rewards, dones, values, bootstrap = _vtrace_inputs(5)
    gamma = 0.99
    discounts = gamma * (1.0 - dones.astype(np.float32))
    vs, adv = vtrace_fn(pi, pi, actions, rewards, discounts, values, bootstrap)
    returns = np_returns(rewards, dones, bootstrap, gamma)
    np.testing.assert_allclose(np.asarray(vs), returns, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(adv), returns - values, rtol=1e-4, atol=1e-4)
    plain, _ = a3c_loss_fn(pi, values, bootstrap, actions, rewards, dones, gamma, 0.5, 0.01)
    corrected, _ = a3c_loss_fn(pi, values, bootstrap, actions, rewards, dones, gamma, 0.5, 0.01, behaviour_logits=pi)
    np.testing.assert_allclose(float(corrected), float(plain), rtol=1e-5, atol=1e-6)
