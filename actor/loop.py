"""The actor loop: env -> batched policy -> unroll buffer -> learner.

One actor process steps `env.num_envs` environments with one jitted policy call
per step over all of them (`actor.policy.Policy`), writes T steps straight into an
unroll slot of its `UnrollSink` and hands the slot to the learner tagged with the
policy version that produced it. It takes newer weights from its `WeightSource`
every `weight_refresh_unrolls` unrolls. It never trains. Local actors write into
shared memory, remote ones over TCP (`actor.remote`); this loop cannot tell which.
"""

from __future__ import annotations

import numpy as np

from actor.exploration import epsilon_schedule
from actor.policy import Policy
from common import algorithms
from common.config import Config, from_dict
from common.env import make_env
from common.process import act_inline, catch_stop_signals, guarded_entry, parent_alive
from common.transport import UnrollSink, WeightSource


def bootstrap_truncated(reward: np.ndarray, truncated: np.ndarray, final_value: np.ndarray, gamma: float) -> np.ndarray:
    """reward [E] + gamma * V(last state) where a time limit cut the game ([E] each -> [E] float32).

    The learner treats every `done` as the end of all future reward; a cut game's last state still had
    one, so its value goes into the last reward instead (Pardo et al. 2018, "Time Limits in RL").
    """
    return np.where(truncated, reward + gamma * final_value, reward).astype(np.float32)


class Unroller:
    """Writes T agent steps of every env into one unroll slot at a time; the games go on across slots."""

    def __init__(self, cfg: Config, env, policy: Policy):
        self.env, self.policy = env, policy
        self.length, self.gamma = cfg.actor.unroll_length, cfg.learner.gamma
        algo = algorithms.get(cfg)
        self.played_actions = algo.records_played_actions
        self.carries_next_action = algo.carries_next_action
        self.records_epsilon = algo.uses_epsilon
        self.obs = env.reset()  # [E, *obs_shape]
        self.carried = None  # Sarsa: (actions [E], Q values [E, A]) chosen at obs, taken first next unroll

    def write(self, slot: dict[str, np.ndarray]) -> None:
        """Fill `slot` (field -> this slot's array, `common.transport.unroll_fields`) with the next T steps."""
        policy = self.policy
        slot["obs"][0] = self.obs
        for name, x in zip(("core_h", "core_c"), policy.core):  # the state obs[0] is seen with: the learner
            slot[name][:] = x  # unrolls its model from it
        for t in range(self.length):
            self._step(slot, t)
        if self.carries_next_action:  # choose a_T now: the bootstrap action and the first of the next unroll
            self.carried = policy.act(self.obs)
            slot["bootstrap_action"][:] = self.env.actions_to_play(self.carried[0])
        if self.records_epsilon:
            slot["epsilon"][:] = policy.epsilon

    def _step(self, slot: dict[str, np.ndarray], t: int) -> None:
        if self.carried is not None:
            (actions, outputs), self.carried = self.carried, None
        else:
            actions, outputs = self.policy.act(self.obs)  # [E] int32, [E, A]
        step = self.env.step(actions)
        if step.final_obs is not None:  # the core still holds the cut game's state
            final_value = self.policy.value(step.final_obs)
            step.reward = bootstrap_truncated(step.reward, step.truncated, final_value, self.gamma)
        # The env may have played FIRE for a new life (env.fire_after_life_loss). The value methods learn
        # Q(s, FIRE) from it; A3C's policy gradient would take it as the policy's choice, however unlikely the
        # policy rates FIRE there, so A3C records the action the policy sampled: the outcome does not depend on
        # it, so on-policy its expected gradient is zero.
        slot["actions"][t] = step.actions if self.played_actions else actions
        slot["behaviour_logits"][t] = outputs
        slot["rewards"][t] = step.reward
        slot["dones"][t] = step.done
        slot["episode_return"][t] = step.episode_return
        slot["episode_length"][t] = step.episode_length
        slot["obs"][t + 1] = step.obs
        self.obs = step.obs
        self.policy.end_episodes(step.done)


def act_until_stopped(
    cfg: Config, actor_id: int, env, policy: Policy, sink: UnrollSink, weights: WeightSource, should_stop
) -> None:
    """Unroll after unroll into `sink` until `should_stop()`, with fresher weights every `weight_refresh_unrolls`."""
    epsilon_for = epsilon_schedule(cfg, actor_id, env.spec.frames_per_step)  # version -> epsilon; None for a3c
    unroller = Unroller(cfg, env, policy)
    buffers = sink.views()  # field -> [slots, ...]
    unrolls = 0
    while not should_stop():
        if unrolls % cfg.actor.weight_refresh_unrolls == 0:
            newer = weights.fetch(policy.version)
            if newer is not None:
                policy.load(*newer)
        if epsilon_for is not None:
            policy.epsilon = epsilon_for(policy.version)
        slot = sink.acquire(timeout=0.5)
        if slot is None:
            continue  # every slot in flight: the learner is behind, wait (bounded queue)
        unroller.write({field: views[slot] for field, views in buffers.items()})
        sink.put(slot, policy.version)
        unrolls += 1


def run_actor(
    actor_id: int, cfg_dict: dict, sink: UnrollSink, weights: WeightSource, stop_flag, seed: int, parent_pid: int
) -> None:
    """Entry point of an actor process (started by `common.process.spawn`, or by `actor.remote` per connection)."""
    from common.model import build_model

    act_inline()
    stop_reasons: list[str] = []
    catch_stop_signals(stop_reasons.append, interrupt=False)  # Ctrl-C reaches the whole group; the learner decides

    def should_stop() -> bool:
        return bool(stop_reasons) or stop_flag.is_set() or not parent_alive(parent_pid)

    cfg = from_dict(cfg_dict)
    env = make_env(cfg.env, cfg.env.num_envs, seed=seed)
    try:
        model = build_model(env.spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
        policy = Policy(model, cfg.algorithm, cfg.env.num_envs, seed)
        first = weights.wait(-1, timeout=float("inf"), should_stop=should_stop)
        if first is None:
            return  # stopped before the learner published anything
        policy.load(*first)
        act_until_stopped(cfg, actor_id, env, policy, sink, weights, should_stop)
    finally:
        env.close()


def main_entry(*args):
    """Spawn target (`ActorPool`): a crash prints one traceback and exits 1."""
    guarded_entry(f"actor {args[0]}", run_actor, *args)
