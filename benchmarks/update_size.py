"""How far does one update move an A3C policy? Real unrolls and real train steps from a checkpoint.

    python benchmarks/update_size.py RUN_DIR --frames 3000000 --updates 25

Loads checkpoint FRAMES of RUN_DIR (weights and RMSprop state), plays its own unrolls
with the policy of each moment (8 envs x T steps, as an actor does; no policy lag)
and trains on them with the run's train step, one after another. After every update it
prints, on a fixed set of probe observations: the policy's KL(old || new), the mean
change of the centred logits, and how much of that change the policy head's own weights
made. First it prints how many ReLU outputs and units of each layer are active on the probes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")


def load_run(run_dir: str, frames: int):
    """(cfg, spec, model, optimizer, train state, updates, entropy schedule) at checkpoint `frames` of `run_dir`."""
    from common import algorithms
    from common import config as config_lib
    from common.env import probe_spec
    from common.model import build_model
    from learner.train import _learning_state  # the learner's own --resume path: optimizer, schedule, state
    from learner.train_step import make_entropy_schedule

    cfg = config_lib.load(os.path.join(run_dir, "config.json"))  # with what later legs changed
    spec = probe_spec(cfg.env)
    model = build_model(spec, cfg.model, seed=cfg.seed, algorithm=cfg.algorithm)
    schedule = algorithms.get(cfg).schedule(cfg, spec.frames_per_step)
    with tempfile.TemporaryDirectory() as one:  # a resume takes the newest checkpoint of a folder
        for ext in ("weights.h5", "state.h5"):
            shutil.copy(os.path.join(run_dir, "checkpoints", f"{frames}.{ext}"), one)
        optimizer, _, state, before, _ = _learning_state(cfg, model, one, schedule, resume=True)
    entropy = make_entropy_schedule(cfg.learner, cfg.total_frames, schedule.frames_per_batch)
    return cfg, spec, model, optimizer, state, before.updates, entropy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--frames", type=int, required=True, help="the checkpoint: <run>/checkpoints/<frames>.*")
    p.add_argument("--updates", type=int, default=25)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()

    import numpy as np

    from actor.loop import Unroller
    from actor.policy import Policy
    from common.env import make_env
    from common.model import core_size
    from common.transport import unroll_fields
    from learner.train_step import make_train_step

    cfg, spec, model, optimizer, state, updates, entropy = load_run(args.run_dir, args.frames)
    T, E = cfg.actor.unroll_length, cfg.env.num_envs
    fields = unroll_fields(spec.obs_shape, spec.obs_dtype, spec.num_actions, T, E, cfg.algorithm, core_size(model))
    policy = Policy(model, cfg.algorithm, E, args.seed)
    unroller = Unroller(cfg, make_env(cfg.env, E, seed=args.seed), policy)

    def next_unroll() -> dict:
        policy.load(0, [np.array(x) for x in list(state.trainable) + list(state.non_trainable)])
        slot = {k: np.empty(shape, dtype) for k, (shape, dtype) in fields.items()}
        unroller.write(slot)
        return slot

    probe = np.concatenate([next_unroll()["obs"][0] for _ in range(40)][::5])  # [64, *obs], games under way
    probe_view = ProbeView(model, probe)
    step = make_train_step(model, optimizer, cfg.learner, E, T, cfg.algorithm)
    print(f"checkpoint {args.frames:,} frames ({updates} updates); {len(probe)} probe observations")
    for name, (active, alive) in probe_view.activity(state).items():
        print(f"{name}: ReLU outputs > 0 per observation {active:.3f}; units > 0 on some probe observation {alive:.3f}")
    rows = []
    for u in range(args.updates):
        batch = {k: v[None] for k, v in next_unroll().items()}  # [B=1, ...]
        before = [np.array(x) for x in state.trainable]  # copies: the step donates the state it is given
        state, metrics = step(state, batch, np.float32(entropy(updates + u)))
        rows.append(probe_view.change(before, [np.array(x) for x in state.trainable]))
        kl, moved, head = rows[-1]
        print(
            f"update {u:3d}: KL {kl:.4f}  mean |change of centred logits| {moved:.3f} (the head's weights: {head:.3f})"
            f"  entropy {float(metrics['losses/entropy']):.2f}  grad norm {float(metrics['losses/grad_norm']):.2f}"
        )
    kl, moved, head = np.mean(rows, axis=0)
    print(f"mean over the updates: KL {kl:.4f}, centred logits {moved:.3f}, of which the head's weights {head:.3f}")
    return 0


class ProbeView:
    """The model's policy and dense features on fixed probe observations, for any set of trainable values."""

    def __init__(self, model, probe):
        import keras

        self.model, self.probe = model, probe
        self.features = keras.Model(model.inputs, model.get_layer("fc").output)  # [N, 512] after ReLU
        names = [v.path for v in model.trainable_variables]
        self.head = names.index("policy_logits/kernel")

    def _run(self, trainable, net):
        import numpy as np

        for var, value in zip(self.model.trainable_variables, trainable):
            var.assign(np.array(value))  # a copy: predict must not touch the train state's buffers
        return net.predict(self.probe, verbose=0, batch_size=len(self.probe))

    def activity(self, state) -> dict[str, tuple[float, float]]:
        """layer -> (share of its ReLU outputs > 0 per observation, share of its units > 0 on some observation)."""
        import keras

        out = {}
        for name in ("conv1", "conv2", "conv3", "fc"):
            a = self._run(state.trainable, keras.Model(self.model.inputs, self.model.get_layer(name).output))
            units = a.reshape(len(a), -1, a.shape[-1])  # [N, positions, channels]
            out[name] = (float((a > 0).mean()), float((units > 0).any(axis=(0, 1)).mean()))
        return out

    def change(self, before: list, after: list) -> tuple[float, float, float]:
        """(KL(old || new), mean |change| of the centred logits, the part made by the head's weights alone)."""
        import numpy as np

        old, new = self._run(before, self.model)[0], self._run(after, self.model)[0]  # logits [N, A]
        h = self._run(before, self.features)  # [N, 512]
        log_p, log_q = _log_softmax(old), _log_softmax(new)
        kl = float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1)))
        centred = lambda x: x - x.mean(axis=1, keepdims=True)  # noqa: E731  (softmax ignores a shared shift)
        dw = np.asarray(after[self.head]) - np.asarray(before[self.head])  # [512, A]
        return kl, float(np.abs(centred(new) - centred(old)).mean()), float(np.abs(centred(h @ dw)).mean())


def _log_softmax(x):
    import numpy as np

    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


if __name__ == "__main__":
    sys.exit(main())
