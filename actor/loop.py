"""The actor loop: env -> batched policy -> unroll buffer -> learner.

One actor process steps `env.num_envs` environments with one jitted policy call
per step over all of them, writes T steps straight into a shared-memory unroll
slot and hands the slot to the learner tagged with the policy version that
produced it. It pulls newer weights from the weight board every
`weight_refresh_unrolls` unrolls. It never trains.
"""

from __future__ import annotations

import numpy as np

from actor.exploration import draw_final_epsilon, epsilon_at
from common.config import frames_per_update, from_dict, is_value_method
from common.env import make_env
from common.model import initial_core, reset_core
from common.process import catch_stop_signals, guarded_entry, parent_alive
from common.transport import ActorEnd, WeightBoard


def _one_step(model):
    """(params, obs [E, ...], core) -> (outputs with the time axis dropped, next core): one model call, as
    the actor makes it, for feed-forward and recurrent models alike (traced inside the jitted steps)."""
    import jax.numpy as jnp

    n_trainable = len(model.trainable_variables)

    def call(params, obs, core):
        trainable, non_trainable = params[:n_trainable], params[n_trainable:]
        if core:  # recurrent model: one time step of its [E, T, ...] sequence input
            resets = jnp.zeros((obs.shape[0], 1), jnp.float32)  # the caller already zeroed ended rows
            outputs, _ = model.stateless_call(trainable, non_trainable, [obs[:, None], resets, *core])
            return [o[:, 0] for o in outputs[: -len(core)]], tuple(outputs[-len(core) :])
        outputs, _ = model.stateless_call(trainable, non_trainable, obs)
        return (list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]), core

    return call


def make_policy_step(model, algorithm: str = "a3c", greedy: bool = False):
    """Jitted (params, obs [E, ...], key, epsilon, core) -> (actions [E] int32, outputs [E, A], next key, core).

    a3c samples from the policy logits (outputs = logits); the value methods act
    epsilon-greedily on the Q values (outputs = Q values; epsilon is ignored by a3c).
    greedy: always the argmax (evaluation).
    core: the recurrent state, `common.model.initial_core(model, E)` at the start
    ((), for feed-forward models; (h [E, H], c [E, H]) for `model.core: lstm`); the
    caller zeroes the rows of envs whose episode ended (`common.model.reset_core`).
    """
    import jax
    import jax.numpy as jnp

    call = _one_step(model)
    value_method = is_value_method(algorithm)

    def policy_step(params, obs, key, epsilon, core):
        key, k1, k2 = jax.random.split(key, 3)
        outputs, core = call(params, obs, core)
        head = outputs[0]  # logits or Q values, [E, A]
        if greedy:
            actions = jnp.argmax(head, axis=-1)
        elif value_method:
            explore = jax.random.uniform(k1, head.shape[:1]) < epsilon
            random_actions = jax.random.randint(k2, head.shape[:1], 0, head.shape[-1])
            actions = jnp.where(explore, random_actions, jnp.argmax(head, axis=-1))
        else:
            actions = jax.random.categorical(k1, head)
        return actions.astype("int32"), head, key, core

    return jax.jit(policy_step)


def make_value_step(model, algorithm: str = "a3c"):
    """Jitted (params, obs [E, ...], core) -> state values [E] float32: V(obs) for a3c, max_a Q(obs, a) otherwise.

    core: the recurrent state the model holds before it sees `obs` (as in `make_policy_step`).
    """
    import jax
    import jax.numpy as jnp

    call = _one_step(model)
    value_method = is_value_method(algorithm)

    def value_step(params, obs, core):
        outputs, _ = call(params, obs, core)
        if value_method:
            return jnp.max(outputs[0], axis=-1)  # Q values [E, A] -> [E]
        return outputs[1][:, 0]  # value [E, 1] -> [E]

    return jax.jit(value_step)


def bootstrap_truncated(reward: np.ndarray, truncated: np.ndarray, final_value: np.ndarray, gamma: float) -> np.ndarray:
    """reward [E] + gamma * V(last state) where a time limit cut the game ([E] each -> [E] float32).

    The learner treats every `done` as the end of all future reward; a cut game's last state still had
    one, so its value goes into the last reward instead (Pardo et al. 2018, "Time Limits in RL").
    """
    return np.where(truncated, reward + gamma * final_value, reward).astype(np.float32)


def run_actor(actor_id: int, cfg_dict: dict, end: ActorEnd, board: WeightBoard, stop_event, seed: int, parent_pid: int):
    """Entry point of an actor process (started by `common.process.spawn`)."""
    import jax

    from common.model import build_model

    stop_reasons: list[str] = []
    catch_stop_signals(stop_reasons.append, interrupt=False)  # Ctrl-C reaches the whole group; the learner decides

    def should_stop() -> bool:
        return bool(stop_reasons) or stop_event.is_set() or not parent_alive(parent_pid)

    cfg = from_dict(cfg_dict)
    T, E = cfg.actor.unroll_length, cfg.env.num_envs
    env = make_env(cfg.env, E, seed=seed)
    model = build_model(env.spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
    policy_step = make_policy_step(model, cfg.algorithm)
    value_step = make_value_step(model, cfg.algorithm)
    key = jax.random.key(seed)
    value_method = is_value_method(cfg.algorithm)
    sarsa = cfg.algorithm == "sarsa_1step"
    final_epsilon = draw_final_epsilon(cfg.actor.epsilon_finals, cfg.actor.epsilon_probs, cfg.seed, actor_id)
    update_frames = frames_per_update(cfg, env.spec.frames_per_step)
    epsilon = 1.0  # value methods only

    got = board.wait(-1, timeout=float("inf"), should_stop=should_stop)
    if got is None:
        env.close()
        return
    version, arrays = got
    params = [jax.numpy.asarray(a) for a in arrays]

    buffers = end.views()  # field -> [slots, ...] numpy views into shared memory
    obs = env.reset()  # [E, *obs_shape]
    core = initial_core(model, E)  # LSTM state (h, c) [E, H] each, carried across unrolls; () if feed-forward
    unrolls = 0
    carried = None  # Sarsa: (actions [E], Q values [E, A]) already chosen at obs, taken first next unroll
    while not should_stop():
        if unrolls % cfg.actor.weight_refresh_unrolls == 0:
            newer = board.fetch(version)
            if newer is not None:
                version, arrays = newer
                params = [jax.numpy.asarray(a) for a in arrays]
        if value_method:  # the learner's frame count is its version (updates) x frames per update
            epsilon = epsilon_at(version * update_frames, final_epsilon, cfg.actor.epsilon_anneal_frames)
        slot = end.acquire(timeout=0.5)
        if slot is None:
            continue  # every slot in flight: the learner is behind, wait (bounded queue)
        u = {k: v[slot] for k, v in buffers.items()}
        u["obs"][0] = obs
        for name, x in zip(("core_h", "core_c"), core):  # the state obs[0] is seen with; the learner unrolls from it
            u[name][:] = x
        for t in range(T):
            if carried is not None:
                (actions, outputs), carried = carried, None
            else:
                actions, outputs, key, core = policy_step(params, obs, key, epsilon, core)
                actions = np.asarray(actions)  # [E] int32
            step = env.step(actions)
            if step.final_obs is not None:  # the core still holds the cut game's state
                final_value = np.asarray(value_step(params, step.final_obs, core))
                step.reward = bootstrap_truncated(step.reward, step.truncated, final_value, cfg.learner.gamma)
            u["actions"][t] = actions
            u["behaviour_logits"][t] = outputs
            u["rewards"][t] = step.reward
            u["dones"][t] = step.done
            u["episode_return"][t] = step.episode_return
            u["episode_length"][t] = step.episode_length
            u["obs"][t + 1] = step.obs
            obs = step.obs
            core = reset_core(core, step.done)
        if sarsa:  # choose a_T now: it is both the bootstrap action and the first action of the next unroll
            actions, outputs, key, core = policy_step(params, obs, key, epsilon, core)
            carried = (np.asarray(actions), outputs)
            u["bootstrap_action"][:] = carried[0]
        if value_method:
            u["epsilon"][0] = epsilon
        end.put(slot, version)
        unrolls += 1
    env.close()


def main_entry(*args):
    """Spawn target (`ActorPool`): a crash prints one traceback and exits 1."""
    guarded_entry(f"actor {args[0]}", run_actor, *args)
