"""Inside an A3C-LSTM pixel model on real screens: how big its inputs are, how saturated its gates,
and how much its output, logits and value change from one state to the next.

    python benchmarks/lstm_gates.py RUN_DIR [WEIGHTS ...]

Plays 4 envs for 200 agent steps with random actions, runs the torso on every screen and the LSTM
step by step in NumPy from a zero state, zeroed again where an episode (or, with
`env.episodic_life`, a life) ended as the actors do (the first 20 steps dropped), and prints for the fresh
model of the run's config and then for each weights file (default: the run's numbered
checkpoints in frame order):

- feats: the torso's output (the LSTM's input): mean, spread over states (std per unit, averaged),
- gates: mean |pre-activation| of the input, forget, cell and output gates, and the shares above
  +4 (pinned open) and below -4 (pinned shut): a sigmoid or tanh there passes under 2% of its gradient,
- h: the LSTM's output, its mean |h| and its spread over states,
- logits and value: their spread over states (0: the policy is the same for every screen).

A model whose h no longer changes with the screen cannot learn a policy that does.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

SATURATED = 4.0  # |pre-activation| above which a gate passes < 2% of its gradient
WARMUP = 20  # agent steps dropped from the start of each env's sequence (the state is still filling)


def play_screens(cfg, envs: int = 4, steps: int = 200):
    """Random play -> (obs [envs, steps, *obs_shape], resets [envs, steps] bool: an episode ended
    on the step before, so the LSTM state is zeroed before this screen)."""
    from common.env import make_env

    env = make_env(cfg.env, envs, seed=3)
    rng = np.random.default_rng(0)
    try:
        obs, resets = [env.reset()], [np.zeros(envs, bool)]
        for _ in range(steps - 1):
            step = env.step(rng.integers(0, env.spec.num_actions, envs).astype(np.int32))
            obs.append(step.obs)
            resets.append(step.done)
    finally:
        env.close()
    return np.stack(obs, 1), np.stack(resets, 1)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_scan(feats, resets, kernel, recurrent, bias):
    """Keras LSTMCell (gates i, f, c, o; kernel [F, 4H], recurrent [H, 4H], bias [4H]) over
    feats [N, T, F] from a zero state, zeroed where resets [N, T] is set ->
    (h [N, T, H], c [N, H] after the last step, pre-activations [N, T, 4H])."""
    units = recurrent.shape[0]
    h = np.zeros((feats.shape[0], units))
    c = np.zeros_like(h)
    hs, zs = [], []
    for t in range(feats.shape[1]):
        keep = ~resets[:, t, None]  # [N, 1]
        h, c = h * keep, c * keep
        z = feats[:, t] @ kernel + h @ recurrent + bias  # [N, 4H]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
        zs.append(z)
    return np.stack(hs, 1), c, np.stack(zs, 1)


def inspect(model, obs, resets) -> dict:
    """The figures above for `model` (a `model.core: lstm` A3C model) on obs [N, T, *obs_shape]
    with resets [N, T] (see `play_screens`)."""
    torso = model.get_layer("torso").layer
    n, steps = obs.shape[:2]
    feats = np.asarray(torso.predict(obs.reshape(-1, *obs.shape[2:]), verbose=0)).reshape(n, steps, -1)  # [N, T, F]
    h, _, z = lstm_scan(feats, resets, *[np.asarray(w) for w in model.get_layer("lstm").cell.get_weights()])
    # every statistic over the S = N * (T - WARMUP) screens after the warm-up
    flat = feats[:, WARMUP:].reshape(-1, feats.shape[-1])  # [S, F]
    h, z = h[:, WARMUP:].reshape(-1, h.shape[-1]), z[:, WARMUP:].reshape(-1, z.shape[-1])  # [S, H], [S, 4H]
    w_pi, b_pi = [np.asarray(w) for w in model.get_layer("policy_logits").get_weights()]  # [H, A], [A]
    w_v, b_v = [np.asarray(w) for w in model.get_layer("value").get_weights()]  # [H, 1], [1]
    gates = np.split(z, 4, axis=1)  # i, f, c, o: [S, H] each
    return {
        "feats_mean": float(flat.mean()),
        "feats_spread": float(flat.std(0).mean()),
        "gate_preact": [float(np.abs(g).mean()) for g in gates],
        "gate_open": [float((g > SATURATED).mean()) for g in gates],
        "gate_shut": [float((g < -SATURATED).mean()) for g in gates],
        "h_mean_abs": float(np.abs(h).mean()),
        "h_spread": float(h.std(0).mean()),
        "logits_spread": float((h @ w_pi + b_pi).std(0).mean()),
        "value_mean": float((h @ w_v + b_v).mean()),
        "value_spread": float((h @ w_v + b_v).std()),
    }


def line(label: str, r: dict) -> str:
    gates = "/".join(f"{x:.2f}" for x in r["gate_preact"])
    sat = "/".join(f"{a:.2f}+{b:.2f}" for a, b in zip(r["gate_open"], r["gate_shut"]))
    return (
        f"{label}: feats {r['feats_mean']:.3f} (spread {r['feats_spread']:.3f}) | gates i/f/c/o |z| {gates}, "
        f"above +4 + below -4 {sat} | h {r['h_mean_abs']:.3f} (spread {r['h_spread']:.4f}) | "
        f"logits spread {r['logits_spread']:.4f} | value {r['value_mean']:.2f} (spread {r['value_spread']:.4f})"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder of an LSTM preset (its config.json and checkpoints/)")
    p.add_argument("weights", nargs="*", help="weights files (default: every numbered checkpoint of the run)")
    args = p.parse_args()

    from common import config as config_lib
    from common.env import probe_spec
    from common.model import build_model
    from common.weights import load_weights
    from learner.checkpoint import checkpoint_weights

    cfg = config_lib.load(os.path.join(args.run, "config.json"))  # with what later legs changed
    if cfg.model.core != "lstm":
        p.error(f"{args.run} is not an LSTM run (model.core: {cfg.model.core})")
    obs, resets = play_screens(cfg)
    model = build_model(probe_spec(cfg.env), cfg.model, cfg.seed, cfg.algorithm)
    print(line("init", inspect(model, obs, resets)), flush=True)
    for f in args.weights or checkpoint_weights(os.path.join(args.run, "checkpoints")):
        load_weights(model, f, cfg.env.id)
        print(line(os.path.basename(f), inspect(model, obs, resets)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
