"""What one agent step costs an actor: its policy call, the part of it that is only dispatch, its env step.

    python benchmarks/policy_call.py --config configs/pong_a3c.yaml [--set env.num_envs=16 ...]

One process set up as an actor process is (`common.process.SINGLE_THREAD_ENV`, `act_inline`), with
the config's env (`env.num_envs` of them, one emulator thread) and the model an actor builds. Times
`--calls` calls of each, after warm-up calls, in CPU milliseconds of this process (all its threads)
and wall milliseconds per call:

1. policy: `Policy.act(obs)`, as the actor loop calls it (model, action choice, results to NumPy);
2. dispatch only: a jitted function that takes the same arguments (weights, observations, key,
   epsilon, core) and does no model work, its results fetched the same way: what `Policy.act` would
   cost with a free model;
3. weights load: `Policy.load` of the model's weights as NumPy arrays, what an actor pays each time
   it takes newer weights (every `actor.weight_refresh_unrolls` unrolls);
4. env step: `env.step` with random actions (the emulator thread's CPU included).

The model's own cost is (1) - (2). Prints one line of JSON (and writes it with `--json`). Run it on an
idle machine: the CPU figures hold under load, the wall ones do not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common.process import SINGLE_THREAD_ENV  # noqa: E402  (imports no JAX)

for _key, _value in SINGLE_THREAD_ENV.items():  # before JAX is imported, as in an actor process
    os.environ.setdefault(_key, _value)

import numpy as np  # noqa: E402  (after OMP_NUM_THREADS is set)


def per_call_ms(fn, calls: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call of `fn()`, averaged over `calls` calls."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        fn()
    return 1e3 * (time.process_time() - cpu0) / calls, 1e3 * (time.perf_counter() - wall0) / calls


def dispatch_only(policy, num_actions: int):
    """A jitted call with `Policy.act`'s arguments and result shapes and no model in it."""
    import jax
    import jax.numpy as jnp

    num_envs = policy.num_envs

    def step(params, obs, key, epsilon, core):
        key, _ = jax.random.split(key)
        return jnp.zeros(num_envs, jnp.int32), jnp.zeros((num_envs, num_actions), jnp.float32), key, core

    jitted = jax.jit(step)

    def call(obs):
        actions, outputs, policy.key, _ = jitted(policy.params, obs, policy.key, policy.epsilon, policy.core)
        return np.asarray(actions), np.asarray(outputs)

    return call


def measure(cfg, calls: int, warmup: int = 20) -> dict:
    from actor.policy import Policy
    from common.env import make_env
    from common.model import build_model
    from common.process import act_inline

    act_inline()
    env = make_env(cfg.env, cfg.env.num_envs, seed=cfg.seed)
    try:
        model = build_model(env.spec, cfg.model, seed=cfg.seed, algorithm=cfg.algorithm)
        policy = Policy(model, cfg.algorithm, cfg.env.num_envs, cfg.seed)
        obs = env.reset()  # [E, *obs_shape]
        bare = dispatch_only(policy, env.spec.num_actions)
        rng = np.random.default_rng(cfg.seed)

        def actions() -> np.ndarray:  # [E] int32, uniform over the game's actions
            return rng.integers(0, env.spec.num_actions, cfg.env.num_envs).astype(np.int32)

        for _ in range(warmup):  # compile both calls, fill the emulators' pipelines
            policy.act(obs), bare(obs), env.step(actions())
        weights = [np.asarray(p) for p in policy.params]  # as the weight board hands them over
        timed = {
            "policy": per_call_ms(lambda: policy.act(obs), calls),
            "dispatch_only": per_call_ms(lambda: bare(obs), calls),
            "weights_load": per_call_ms(lambda: policy.load(0, weights), calls),
            "env_step": per_call_ms(lambda: env.step(actions()), calls),
        }
    finally:
        env.close()
    out = {"config": cfg.name, "num_envs": cfg.env.num_envs, "calls": calls}
    for name, (cpu_ms, wall_ms) in timed.items():
        out[f"{name}_cpu_ms"], out[f"{name}_wall_ms"] = round(cpu_ms, 3), round(wall_ms, 3)
    out["model_cpu_ms"] = round(timed["policy"][0] - timed["dispatch_only"][0], 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/pong_a3c.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--calls", type=int, default=300, help="timed calls of each")
    p.add_argument("--json", help="write the result here too")
    args = p.parse_args()
    if args.calls < 1:
        p.error("--calls must be at least 1")
    from benchmarks.throughput import cpu_model
    from benchmarks.train_step_time import emit
    from common import config as config_lib

    cfg = config_lib.load(args.config, dict(config_lib.parse_override(o) for o in args.overrides))
    emit({**measure(cfg, args.calls), "overrides": args.overrides, "cpu": cpu_model()}, args.json)


if __name__ == "__main__":
    main()
