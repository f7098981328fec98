"""What one batch costs the learner: the preset's train step alone, on a random batch of its shape.

    python benchmarks/train_step_time.py --config configs/pong_appo.yaml [--set learner.epochs=4 ...]

Builds the model, optimizer and train step exactly as the learner does (`learner.train_step`), for one
batch of the config's shape (`learner.batch_unrolls` unrolls of `env.num_envs` envs x
`actor.unroll_length` steps, random observations and actions), then times `--repeats` calls after the
first (which compiles). Prints one line and, with `--json`, writes it: compile seconds, the best and
median milliseconds per batch, and samples (agent steps) per second at the best. One process, no
actors: the learner's ceiling on this machine, whatever the actors leave it. Pin it to one core
(`taskset -c 0 python ...`) to see what the learner gets when actors use the other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")


def random_batch(fields: dict, batch_unrolls: int, num_actions: int, seed: int = 0) -> dict:
    """{field: [B, *shape]} of random values: pixels 0-255, a few episode ends, actions in range."""
    import numpy as np

    rng = np.random.default_rng(seed)
    batch = {}
    for k, (shape, dtype) in fields.items():
        dt, full = np.dtype(dtype), (batch_unrolls, *shape)
        if dt == np.bool_:
            batch[k] = rng.random(full) < 0.01
        elif np.issubdtype(dt, np.integer) and dt != np.uint8:
            batch[k] = rng.integers(0, num_actions, full).astype(dt)
        elif dt == np.uint8:
            batch[k] = rng.integers(0, 256, full, dtype=np.uint8)
        else:
            batch[k] = (0.1 * rng.normal(size=full)).astype(dt)
    return batch


def time_train_step(cfg, repeats: int) -> dict:
    import numpy as np

    from common import algorithms
    from common.env import probe_spec
    from common.model import build_model, core_size
    from common.transport import unroll_fields
    from learner.train_step import init_state, make_lr_schedule, make_optimizer, make_train_step

    algo = algorithms.get(cfg.algorithm)
    spec = probe_spec(cfg.env)
    B, T, E = cfg.learner.batch_unrolls, cfg.actor.unroll_length, cfg.env.num_envs
    model = build_model(spec, cfg.model, seed=0, algorithm=cfg.algorithm)
    optimizer = make_optimizer(cfg.learner, make_lr_schedule(cfg.learner, 1_000), cfg.algorithm)
    state = init_state(model, optimizer, with_target=algo.uses_target_network)
    fields = unroll_fields(spec.obs_shape, spec.obs_dtype, spec.num_actions, T, E, cfg.algorithm, core_size(model))
    batch = random_batch(fields, B, spec.num_actions)
    step = make_train_step(model, optimizer, cfg.learner, E, T, cfg.algorithm, seed=cfg.seed)
    entropy = np.float32(cfg.learner.entropy_coef)

    def once(state):
        start = time.perf_counter()
        state, metrics = step(state, batch, entropy)
        float(metrics["losses/total"])  # wait for the result
        return state, time.perf_counter() - start

    state, compile_s = once(state)
    times = []
    for _ in range(repeats):
        state, seconds = once(state)
        times.append(seconds)
    samples = B * T * E
    return {
        "config": cfg.name,
        "algorithm": cfg.algorithm,
        "samples_per_batch": samples,
        "optimizer_steps_per_batch": algo.schedule(cfg, 1).optimizer_steps_per_batch,
        "first_call_s": round(compile_s, 1),
        "best_ms": round(1e3 * min(times), 1),
        "median_ms": round(1e3 * statistics.median(times), 1),
        "samples_per_s": round(samples / min(times)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/pong_appo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--repeats", type=int, default=5, help="timed calls after the first")
    p.add_argument("--json", help="write the result here too")
    args = p.parse_args()
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    from common import config as config_lib

    cfg = config_lib.load(args.config, dict(config_lib.parse_override(o) for o in args.overrides))
    result = time_train_step(cfg, args.repeats)
    result["overrides"] = args.overrides
    emit(result, args.json)


def emit(result: dict, json_path: str | None) -> None:
    """Print `result` as one JSON line, and write that line to `json_path` too when given."""
    line = json.dumps(result)
    print(line)
    if json_path:
        with open(json_path, "w") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
