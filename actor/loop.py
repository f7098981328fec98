"""The actor loop: env -> batched policy -> unroll buffer -> learner.

One actor process steps `env.num_envs` environments with one jitted policy call
per step over all of them, writes T steps straight into a shared-memory unroll
slot and hands the slot to the learner tagged with the policy version that
produced it. It pulls newer weights from the weight board every
`weight_refresh_unrolls` unrolls. It never trains.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

from common.config import from_dict
from common.env import make_env
from common.transport import ActorEnd, WeightBoard, parent_alive


def make_policy_step(model):
    """Jitted (params, obs [E, ...], key) -> (actions [E] int32, logits [E, A], next key)."""
    import jax

    n_trainable = len(model.trainable_variables)

    def policy_step(params, obs, key):
        key, sample_key = jax.random.split(key)
        (logits, _value), _ = model.stateless_call(params[:n_trainable], params[n_trainable:], obs)
        actions = jax.random.categorical(sample_key, logits).astype("int32")
        return actions, logits, key

    return jax.jit(policy_step)


def run_actor(actor_id: int, cfg_dict: dict, end: ActorEnd, board: WeightBoard, stop_event, seed: int, parent_pid: int):
    """Entry point of an actor process (started by `common.launch.spawn`)."""
    import jax

    from common.model import build_model

    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the learner decides

    def should_stop() -> bool:
        return stopping or stop_event.is_set() or not parent_alive(parent_pid)

    cfg = from_dict(cfg_dict)
    T, E = cfg.actor.unroll_length, cfg.env.num_envs
    env = make_env(cfg.env, E, seed=seed)
    model = build_model(env.spec, cfg.model, seed=seed)
    policy_step = make_policy_step(model)
    key = jax.random.key(seed)

    got = board.wait(-1, timeout=float("inf"), should_stop=should_stop)
    if got is None:
        env.close()
        return
    version, arrays = got
    params = [jax.numpy.asarray(a) for a in arrays]

    buffers = end.views()  # field -> [slots, ...] numpy views into shared memory
    obs = env.reset()  # [E, *obs_shape]
    unrolls = 0
    while not should_stop():
        if unrolls % cfg.actor.weight_refresh_unrolls == 0:
            newer = board.fetch(version)
            if newer is not None:
                version, arrays = newer
                params = [jax.numpy.asarray(a) for a in arrays]
        slot = end.acquire(timeout=0.5)
        if slot is None:
            continue  # every slot in flight: the learner is behind, wait (bounded queue)
        u = {k: v[slot] for k, v in buffers.items()}
        u["obs"][0] = obs
        for t in range(T):
            actions, logits, key = policy_step(params, obs, key)
            actions = np.asarray(actions)  # [E] int32
            step = env.step(actions)
            u["actions"][t] = actions
            u["behaviour_logits"][t] = logits
            u["rewards"][t] = step.reward
            u["dones"][t] = step.done
            u["episode_return"][t] = step.episode_return
            u["episode_length"][t] = step.episode_length
            u["obs"][t + 1] = step.obs
            obs = step.obs
        end.put(slot, version)
        unrolls += 1
    env.close()


def main_entry(*args):
    """Spawn target wrapper: a crash prints one traceback to stderr and exits non-zero."""
    try:
        run_actor(*args)
    except KeyboardInterrupt:
        pass
    except Exception:
        import traceback

        print(f"[actor {args[0]}] crashed:", file=sys.stderr)
        traceback.print_exc()
        sys.stderr.flush()
        time.sleep(0.1)
        os._exit(1)
