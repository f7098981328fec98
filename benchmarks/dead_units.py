"""Dead ReLU units of a pixel model: units that never fire on a sample of the game's screens.

    python benchmarks/dead_units.py RUN_DIR [WEIGHTS ...]
    python benchmarks/dead_units.py --init --config configs/pong_a3c.yaml --seeds 0 1

A conv filter counts as dead when its output is <= 0 at every position of every screen in the
sample (2,400 observations from 8 envs under random actions, every third step kept), a dense unit
when it is <= 0 for every screen. A dead conv1 filter cannot come back: its inputs are the
screen's non-negative pixels, so its gradient stays 0. Prints one line per weights file (the run's
checkpoints in frame order by default), or per seed of a fresh model with `--init`.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402

LAYERS = ("conv1", "conv2", "conv3", "fc")


def sample_screens(cfg, steps: int = 300, envs: int = 8):
    """[N, stack, H, W] uint8 observations of random play."""
    from common.env import make_env

    env = make_env(cfg.env, envs, seed=3)
    try:
        obs = [env.reset()]
        rng = np.random.default_rng(0)
        for _ in range(steps):
            obs.append(env.step(rng.integers(0, env.spec.num_actions, envs).astype(np.int32)).obs)
    finally:
        env.close()
    return np.concatenate(obs[::3])


def torso_of(model):
    """The model that maps one screen to features: a recurrent model's per-step torso (the model
    that its `TimeDistributed` layer "torso" wraps), else the model itself."""
    try:
        return model.get_layer("torso").layer
    except ValueError:
        return model


def dead_counts(model, screens) -> dict[str, tuple[int, int]]:
    """layer -> (dead units, units), for the torso layers the model has (feed-forward or LSTM)."""
    import keras

    model = torso_of(model)
    out = {}
    for name in LAYERS:
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        acts = np.asarray(keras.Model(model.inputs, layer.output).predict(screens, verbose=0))
        alive = (acts > 0).any(axis=tuple(range(acts.ndim - 1)))
        out[name] = (int((~alive).sum()), int(alive.size))
    return out


def line(label: str, counts: dict) -> str:
    return f"{label}: " + ", ".join(f"{k} {d}/{n} dead" for k, (d, n) in counts.items())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", help="run folder (its config.json and checkpoints/)")
    p.add_argument("weights", nargs="*", help="weights files (default: every numbered checkpoint of the run)")
    p.add_argument("--init", action="store_true", help="score freshly initialised models instead")
    p.add_argument("--config", help="with --init: the preset")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="with --init: config overrides")
    args = p.parse_args()

    from common import config as config_lib
    from common.model import build_model
    from common.weights import load_weights

    if args.init:
        cfg = config_lib.load(args.config, dict(config_lib.parse_override(o) for o in args.set))
    else:
        cfg = config_lib.load(os.path.join(args.run, "config.json"))  # with what later legs changed
    screens = sample_screens(cfg)
    from common.env import probe_spec

    spec = probe_spec(cfg.env)
    if args.init:
        for seed in args.seeds:
            print(line(f"init seed {seed}", dead_counts(build_model(spec, cfg.model, seed, cfg.algorithm), screens)))
        return 0
    from learner.checkpoint import checkpoint_weights

    files = args.weights or checkpoint_weights(os.path.join(args.run, "checkpoints"))
    model = build_model(spec, cfg.model, cfg.seed, cfg.algorithm)
    for f in files:
        load_weights(model, f, cfg.env.id)
        print(line(os.path.basename(f), dead_counts(model, screens)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
