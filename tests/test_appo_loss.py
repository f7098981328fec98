"""APPO loss math against a NumPy reference written from the PPO and IMPALA papers, loops over time."""

import jax
import numpy as np
import pytest

from learner.appo_loss import appo_loss_fn, minibatch_indices


def np_log_softmax(logits):
    z = logits - logits.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_action_log_probs(logits, actions):
    return np.take_along_axis(np_log_softmax(logits), actions[..., None], -1)[..., 0]


def np_vtrace_backward(ratio, rewards, dones, values, bootstrap, gamma, rho_bar, c_bar):
    """IMPALA's recursion, one stream at a time, backwards in time:
    v_s - V_s = rho_s delta_s + gamma_s c_s (v_{s+1} - V_{s+1}), gamma_s = 0 after an episode end."""
    T, N = rewards.shape
    vs, adv = np.zeros((T, N)), np.zeros((T, N))
    for n in range(N):
        next_value, next_vs, acc = bootstrap[n], bootstrap[n], 0.0
        for t in reversed(range(T)):
            rho, c = min(rho_bar, ratio[t, n]), min(c_bar, ratio[t, n])
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
    vs, adv = np_vtrace_backward(ratio, rewards, dones, values, bootstrap, cfg["gamma"], cfg["rho_bar"], cfg["c_bar"])
    adv_std = adv.std()
    if cfg["normalize_advantages"]:
        adv = (adv - adv.mean()) / (adv_std + 1e-8)
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


@pytest.mark.parametrize("n_rows,minibatches", [(1, 1), (8, 1), (8, 2), (12, 4), (16, 16)])
def test_minibatch_indices_are_a_permutation_split_evenly(n_rows, minibatches):
    idx = np.asarray(minibatch_indices(n_rows, minibatches, jax.random.key(3)))
    assert idx.shape == (minibatches, n_rows // minibatches)
    assert idx.dtype == np.int32
    np.testing.assert_array_equal(np.sort(idx.ravel()), np.arange(n_rows))


def test_minibatch_indices_shuffle_with_the_key():
    draws = {tuple(np.asarray(minibatch_indices(16, 4, jax.random.key(s))).ravel()) for s in range(5)}
    assert len(draws) == 5  # not the identity split, and a different split for each key
    assert tuple(range(16)) not in draws
    same = [np.asarray(minibatch_indices(16, 4, jax.random.key(7))) for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])


@pytest.mark.parametrize("n_rows,minibatches", [(10, 4), (3, 2), (8, 0), (0, 1)])
def test_minibatch_indices_reject_uneven_or_empty_splits(n_rows, minibatches):
    with pytest.raises(ValueError, match="n_rows"):
        minibatch_indices(n_rows, minibatches, jax.random.key(0))
