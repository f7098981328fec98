"""APPO loss math against a NumPy reference written from the PPO and IMPALA papers, loops over time."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.algorithms.appo.loss import advantage_stats_fn, appo_loss_fn
from learner.losses import a3c_loss_fn


def np_log_softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_action_log_probs(logits, actions):
    return np.take_along_axis(np_log_softmax(logits), actions[..., None], -1)[..., 0]


def np_vtrace_backward(ratio, rewards, dones, values, bootstrap, gamma, rho_bar, c_bar, lambda_):
    """IMPALA's recursion, one stream at a time, backwards in time:
    v_s - V_s = rho_s delta_s + gamma_s c_s (v_{s+1} - V_{s+1}), c_s = lambda_ min(c_bar, ratio_s),
    gamma_s = 0 after an episode end."""
    T, N = rewards.shape
    vs, adv = np.zeros((T, N)), np.zeros((T, N))
    for n in range(N):
        next_value, next_vs, acc = bootstrap[n], bootstrap[n], 0.0
        for t in reversed(range(T)):
            rho, c = min(rho_bar, ratio[t, n]), lambda_ * min(c_bar, ratio[t, n])
            disc = 0.0 if dones[t, n] else gamma
            acc = rho * (rewards[t, n] + disc * next_value - values[t, n]) + disc * c * acc
            vs[t, n] = values[t, n] + acc
            adv[t, n] = rho * (rewards[t, n] + disc * next_vs - values[t, n])
            next_value, next_vs = values[t, n], vs[t, n]
    return vs, adv


def np_appo(inputs, cfg):
    """Returns dict of the expected metrics (same keys as appo_loss_fn's)."""
    logits, values, bootstrap, actions, rewards, dones, mu_logits, old_values = inputs
    logits, mu_logits, values = logits.astype(np.float64), mu_logits.astype(np.float64), values.astype(np.float64)
    T, N, _ = logits.shape
    logp, logmu = np_log_softmax(logits), np_log_softmax(mu_logits)
    log_ratio = np.array([[logp[t, n, actions[t, n]] - logmu[t, n, actions[t, n]] for n in range(N)] for t in range(T)])
    ratio = np.exp(log_ratio)
    vs, adv = np_vtrace_backward(
        ratio, rewards, dones, values, bootstrap, cfg["gamma"], cfg["rho_bar"], cfg["c_bar"], cfg["lambda_"]
    )
    adv_std = adv.std()
    if cfg["normalize_advantages"]:
        mean, std = cfg["advantage_stats"] or (adv.mean(), adv_std)  # a whole batch's, or these samples' own
        adv = (adv - mean) / (std + 1e-8)
    eps, pg, vloss, clipped = cfg["clip_ratio"], 0.0, 0.0, 0
    for t in range(T):
        for n in range(N):
            r, a = ratio[t, n], adv[t, n]
            pg -= min(r * a, min(max(r, 1 - eps), 1 + eps) * a)
            clipped += abs(r - 1) > eps
            err = (values[t, n] - vs[t, n]) ** 2
            if cfg["value_clip"] is not None:
                vc, old = cfg["value_clip"], old_values[t, n]
                clipped_value = old + min(max(values[t, n] - old, -vc), vc)
                err = max(err, (clipped_value - vs[t, n]) ** 2)
            vloss += 0.5 * err
    pg, vloss = pg / (T * N), vloss / (T * N)
    entropy = np.mean(-(np.exp(logp) * logp).sum(-1))
    return {
        "losses/total": pg + cfg["value_coef"] * vloss - cfg["entropy_coef"] * entropy,
        "losses/pg_loss": pg,
        "losses/baseline_loss": vloss,
        "losses/entropy": entropy,
        "losses/mean_value": values.mean(),
        "appo/ratio_mean": ratio.mean(),
        "appo/ratio_max": ratio.max(),
        "appo/clip_fraction": clipped / (T * N),
        "appo/approx_kl": np.mean((ratio - 1) - log_ratio),
        "appo/advantage_std": adv_std,
    }


# (T, N, A): a few shapes only, because each new shape costs a compilation of V-trace's scan (about 1 s).
SHAPES = [(2, 1, 2), (5, 3, 4), (8, 5, 6), (3, 4, 3)]


def random_case(seed):
    """Ratios spread over about [0.1, 10] so the clip binds above and below; an episode end mid-unroll."""
    rng = np.random.default_rng(seed)
    T, N, A = SHAPES[(seed // 4) % len(SHAPES)]
    f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
    logits = 1.5 * f(T, N, A)
    mu_logits = logits + f(T, N, A)
    dones = rng.random((T, N)) < 0.2
    dones[int(rng.integers(0, T - 1)), int(rng.integers(0, N))] = True
    values = f(T, N)
    old_values = values + 0.5 * f(T, N)
    actions = rng.integers(0, A, (T, N)).astype(np.int32)
    inputs = (logits, values, f(N), actions, f(T, N), dones, mu_logits, old_values)
    cfg = {
        "gamma": float(rng.uniform(0.9, 0.999)),
        "value_coef": float(rng.uniform(0.25, 1.0)),
        "entropy_coef": float(rng.uniform(0.0, 0.05)),
        "clip_ratio": float(rng.uniform(0.1, 0.3)),
        "rho_bar": float(rng.choice([1.0, 2.0])),
        "c_bar": float(rng.choice([1.0, 0.5])),
        "normalize_advantages": bool(seed % 2),
        "value_clip": None if seed % 4 < 2 else float(rng.uniform(0.05, 0.5)),
        "advantage_stats": None if seed % 8 < 4 else (float(rng.normal()), float(rng.uniform(0.5, 2.0))),
        "lambda_": (1.0, 0.95, 0.5)[seed % 3],
    }
    return inputs, cfg


def call_appo(inputs, cfg):
    logits, values, bootstrap, actions, rewards, dones, mu_logits, old_values = inputs
    return appo_loss_fn(logits, values, bootstrap, actions, rewards, dones, mu_logits, old_values=old_values, **cfg)


@pytest.mark.parametrize("seed", range(64))
def test_appo_loss_matches_reference(seed):
    inputs, cfg = random_case(seed)
    _, metrics = call_appo(inputs, cfg)
    expected = np_appo(inputs, cfg)
    assert set(metrics) == set(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(float(metrics[name]), want, rtol=2e-4, atol=2e-4, err_msg=name)


def test_random_cases_bind_the_clip_both_ways():
    # The reference comparison only means something if both clipped branches are exercised.
    above = below = 0
    for seed in range(64):
        (logits, _, _, actions, _, _, mu_logits, _), cfg = random_case(seed)
        ratio = np.exp(np_action_log_probs(logits, actions) - np_action_log_probs(mu_logits, actions))
        above += int(np.sum(ratio > 1 + cfg["clip_ratio"]))
        below += int(np.sum(ratio < 1 - cfg["clip_ratio"]))
    assert above > 200 and below > 200


HAND = {"gamma": 0.5, "value_coef": 1.0, "entropy_coef": 0.0, "clip_ratio": 0.2, "normalize_advantages": False}


def two_action_logits(p):
    """[1, len(p), 2] logits whose softmax gives action 0 probability p."""
    p = np.asarray(p, np.float32)
    return np.log(np.stack([p, 1 - p], -1))[None]


def test_constructed_case_clips_both_ways():
    # One step per stream, episodes ending, V = 0: advantage = min(1, ratio) * reward.
    # mu(0) = 0.4 and pi(0) = 0.2, 0.38, 0.42, 0.8 give ratios 0.5, 0.95, 1.05, 2.0.
    logits, mu_logits = two_action_logits([0.2, 0.38, 0.42, 0.8]), two_action_logits([0.4] * 4)
    zeros, actions, dones = np.zeros((1, 4), np.float32), np.zeros((1, 4), np.int32), np.ones((1, 4), bool)
    rewards = np.array([[-1.0, 1.0, 1.0, 1.0]], np.float32)  # advantages -0.5, 0.95, 1, 1

    def loss(lg):
        return appo_loss_fn(lg, zeros, zeros[0], actions, rewards, dones, mu_logits, **HAND)

    (_, m), grad = jax.value_and_grad(loss, has_aux=True)(jnp.asarray(logits))
    # Surrogates: min(-0.25, 0.8 * -0.5), 0.95 * 0.95, 1.05 * 1, min(2 * 1, 1.2 * 1).
    np.testing.assert_allclose(float(m["losses/pg_loss"]), -(-0.4 + 0.9025 + 1.05 + 1.2) / 4, rtol=1e-5)
    assert float(m["appo/clip_fraction"]) == 0.5
    np.testing.assert_allclose(float(m["appo/ratio_mean"]), 1.125, rtol=1e-5)
    np.testing.assert_allclose(float(m["appo/ratio_max"]), 2.0, rtol=1e-5)
    ratios = np.array([0.5, 0.95, 1.05, 2.0])
    np.testing.assert_allclose(float(m["appo/approx_kl"]), np.mean(ratios - 1 - np.log(ratios)), rtol=1e-4)
    # Where the clip binds the sample gives no gradient; inside the range it does.
    grad = np.asarray(grad)[0]
    np.testing.assert_allclose(grad[[0, 3]], 0.0, atol=1e-7)
    assert np.all(np.abs(grad[[1, 2]]) > 1e-3)


def test_ratio_one_is_a2c_with_normalised_advantages():
    inputs, _ = random_case(5)
    logits, values, bootstrap, actions, rewards, dones, _, _ = map(jnp.asarray, inputs)
    gamma, ec = 0.9, 0.01
    cfg = {"gamma": gamma, "value_coef": 0.5, "entropy_coef": ec, "clip_ratio": 0.2}
    # On-policy, V-trace advantages are n-step returns minus V.
    returns, _ = np_vtrace_backward(np.ones(rewards.shape), rewards, dones, values, bootstrap, gamma, 1.0, 1.0, 1.0)
    adv = returns - np.asarray(values)
    adv_norm = (adv - adv.mean()) / (adv.std() + 1e-8)

    def appo(lg, v, normalize):
        args = (lg, v, bootstrap, actions, rewards, dones, jax.lax.stop_gradient(lg))
        return appo_loss_fn(*args, normalize_advantages=normalize, **cfg)[0]

    def a2c_normalised(lg):
        logp = jax.nn.log_softmax(lg)
        chosen = jnp.take_along_axis(logp, actions[..., None], -1)[..., 0]
        return -jnp.mean(chosen * adv_norm) + ec * jnp.mean(jnp.sum(jnp.exp(logp) * logp, -1))

    np.testing.assert_allclose(jax.grad(appo)(logits, values, True), jax.grad(a2c_normalised)(logits), atol=1e-6)
    _, m = appo_loss_fn(logits, values, bootstrap, actions, rewards, dones, logits, **cfg)
    assert abs(float(m["losses/pg_loss"])) < 1e-6  # mean of normalised advantages
    assert float(m["appo/clip_fraction"]) == 0.0 and abs(float(m["appo/approx_kl"])) < 1e-6
    # Without normalisation the gradients are A3C's (whose value loss has no 1/2).
    a3c = lambda lg, v: a3c_loss_fn(lg, v, bootstrap, actions, rewards, dones, gamma, 0.5, ec)[0]  # noqa: E731
    g_appo, g_a3c = jax.grad(appo, (0, 1))(logits, values, False), jax.grad(a3c, (0, 1))(logits, values)
    np.testing.assert_allclose(g_appo[0], g_a3c[0], atol=1e-6)
    np.testing.assert_allclose(g_appo[1], 0.5 * g_a3c[1], atol=1e-6)


def test_episode_end_cuts_the_bootstrap():
    # gamma 0.5, bootstrap 100, rewards 1, V 0, on-policy: targets 1 (episode ends) and 1 + 0.5 * 100.
    logits = np.zeros((2, 1, 2), np.float32)
    args = (np.zeros((2, 1), np.float32), np.array([100.0], np.float32), np.zeros((2, 1), np.int32))
    dones = np.array([[True], [False]])
    _, m = appo_loss_fn(logits, *args, np.ones((2, 1), np.float32), dones, logits, **HAND)
    np.testing.assert_allclose(float(m["losses/baseline_loss"]), 0.5 * (1.0**2 + 51.0**2) / 2, rtol=1e-6)


def test_value_clip_keeps_the_pessimistic_error():
    # On-policy, episodes ending, so the targets are the rewards: 3 and -1. V = 1, old V = 0, clip 0.5.
    # Stream 0: clipped V 0.5 is farther from 3 than V is, so its error (6.25) wins and has no gradient.
    # Stream 1: V's own error (4) wins over the clipped one (2.25) and keeps its gradient V - target = 2.
    logits = np.zeros((1, 2, 2), np.float32)
    values, old_values = np.ones((1, 2), np.float32), np.zeros((1, 2), np.float32)
    rewards, dones, actions = np.array([[3.0, -1.0]], np.float32), np.ones((1, 2), bool), np.zeros((1, 2), np.int32)

    def loss(v, **kw):
        return appo_loss_fn(logits, v, np.zeros(2, np.float32), actions, rewards, dones, logits, **HAND, **kw)

    (_, m), grad = jax.value_and_grad(loss, has_aux=True)(jnp.asarray(values), old_values=old_values, value_clip=0.5)
    np.testing.assert_allclose(float(m["losses/baseline_loss"]), 0.5 * (6.25 + 4.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), [[0.0, 0.5 * 2.0]], atol=1e-6)  # d/dV 0.5 * mean
    _, plain = loss(values, old_values=old_values)  # old_values alone change nothing
    np.testing.assert_allclose(float(plain["losses/baseline_loss"]), 0.5 * (4.0 + 4.0) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="old_values"):
        loss(values, value_clip=0.5)


def test_behaviour_policy_and_old_values_are_constants():
    # PPO's old policy and old values are fixed points of comparison: the loss's gradient never moves them.
    inputs, cfg = random_case(7)
    assert cfg["value_clip"] is not None
    logits, values, bootstrap, actions, rewards, dones, mu_logits, old_values = map(jnp.asarray, inputs)

    def loss(mu, old):
        return appo_loss_fn(logits, values, bootstrap, actions, rewards, dones, mu, old_values=old, **cfg)[0]

    for grad in jax.grad(loss, (0, 1))(mu_logits, old_values):
        np.testing.assert_array_equal(np.asarray(grad), 0.0)


@pytest.mark.parametrize("normalize", [False, True])
def test_gradients_are_finite_with_extreme_ratios(normalize):
    inputs, cfg = random_case(6)
    logits, values, bootstrap, actions, rewards, dones, mu_logits, old_values = inputs
    chosen = np.arange(logits.shape[-1]) == actions[..., None]  # [T, N, A]
    half = (np.arange(logits.shape[1]) % 2 == 0)[None, :, None]
    mu_logits = np.where(chosen & half, -60.0, mu_logits)  # ratios near e^60 on even streams
    logits = np.where(chosen & ~half, -60.0, logits)  # and near e^-60 on odd ones
    cfg = {**cfg, "normalize_advantages": normalize, "value_clip": 0.2}

    def loss(lg, v):
        args = (lg, v, bootstrap, actions, rewards, dones, mu_logits)
        return appo_loss_fn(*args, old_values=old_values, **cfg)

    (_, m), grads = jax.value_and_grad(loss, (0, 1), has_aux=True)(jnp.asarray(logits), jnp.asarray(values))
    assert float(m["appo/ratio_max"]) > 1e20 and np.isfinite(float(m["appo/approx_kl"]))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    assert all(np.any(np.asarray(g) != 0) for g in grads)


def test_single_sample_normalisation_is_finite():
    # One sample: its advantage minus the mean is 0 and the std is 0; the epsilon keeps the loss finite.
    logits = np.zeros((1, 1, 3), np.float32)
    one = np.ones((1, 1), np.float32)
    args = (logits, one, one[0], np.zeros((1, 1), np.int32), one, np.ones((1, 1), bool), logits)
    total, m = appo_loss_fn(*args, **{**HAND, "normalize_advantages": True})
    assert np.isfinite(float(total)) and float(m["losses/pg_loss"]) == 0.0


def test_advantage_stats_from_chunk_means_are_the_batchs():
    # Equal-sized chunks: the mean of their means and mean squares gives the whole sample's mean and std.
    rng = np.random.default_rng(0)
    adv = rng.normal(2.0, 3.0, (6, 8)).astype(np.float32)
    chunks = np.split(adv, 4, axis=1)
    mean = np.mean([c.mean() for c in chunks])
    square_mean = np.mean([(c**2).mean() for c in chunks])
    got = advantage_stats_fn(jnp.float32(mean), jnp.float32(square_mean))
    np.testing.assert_allclose([float(got[0]), float(got[1])], [adv.mean(), adv.std()], rtol=1e-5)
    assert float(advantage_stats_fn(jnp.float32(1.0), jnp.float32(1.0 - 1e-7))[1]) == 0.0  # rounding below 0
