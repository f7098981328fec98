"""The actor side of a model: one object that acts for training, evaluation, play and remote actors.

`Policy` holds what acting needs between steps (the weights and their version, the
random key, the recurrent core, epsilon) and makes one jitted, batched model call
per agent step over all `num_envs` envs. Its users only step envs and hand it
observations, ended episodes and new weights.
"""

from __future__ import annotations

import numpy as np

from common import algorithms
from common.model import initial_core, reset_core


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


def make_policy_step(model, algorithm="a3c", greedy: bool = False):
    """Jitted (params, obs [E, ...], key, epsilon, core) -> (actions [E] int32, outputs [E, A], next key, core).

    The algorithm (a name or an `Algorithm`) picks the actions (`Algorithm.sample_actions`: a3c samples
    from the policy logits, the value methods act epsilon-greedily on the Q values; epsilon is ignored by
    a3c); outputs are its per-action head (logits or Q values). greedy: always the argmax (evaluation).
    core: the recurrent state, `common.model.initial_core(model, E)` at the start
    ((), for feed-forward models; (h [E, H], c [E, H]) for `model.core: lstm`); the
    caller zeroes the rows of envs whose episode ended (`common.model.reset_core`).
    """
    import jax

    call = _one_step(model)
    algo = algorithms.get(algorithm)

    def policy_step(params, obs, key, epsilon, core):
        key, k1, k2 = jax.random.split(key, 3)
        outputs, core = call(params, obs, core)
        actions = algo.greedy_actions(outputs) if greedy else algo.sample_actions(outputs, (k1, k2), epsilon)
        return actions.astype("int32"), outputs[0], key, core  # outputs[0]: the per-action head [E, A]

    return jax.jit(policy_step)


def make_value_step(model, algorithm="a3c"):
    """Jitted (params, obs [E, ...], core) -> state values [E] float32 (`Algorithm.state_value`: V(obs) for
    a3c, max_a Q(obs, a) for the value methods).

    core: the recurrent state the model holds before it sees `obs` (as in `make_policy_step`).
    """
    import jax

    call = _one_step(model)
    algo = algorithms.get(algorithm)

    def value_step(params, obs, core):
        outputs, _ = call(params, obs, core)
        return algo.state_value(outputs)

    return jax.jit(value_step)


class Policy:
    """Acts in `num_envs` envs at once with `model` as `algorithm` (a name or an `Algorithm`) does: sample
    (a3c), epsilon-greedy (value methods) or greedy.

    Starts with the model's own weights (version -1); `load` swaps in published ones.
    Per step: `act(obs)`, step the envs, then `end_episodes(done)` so a recurrent core
    starts every new game from zero.
    """

    def __init__(self, model, algorithm, num_envs: int, seed: int, greedy: bool = False):
        import jax

        self.model = model
        self.num_envs = num_envs
        self.epsilon = 0.0  # value methods: random-action probability, one or [E] of them; the loop anneals it
        self.version = -1
        self.params = [v.value for v in model.trainable_variables + model.non_trainable_variables]
        self.key = jax.random.key(seed)
        self.core = initial_core(model, num_envs)  # (h, c) [E, H] each for an LSTM; () if feed-forward
        self._policy_step = make_policy_step(model, algorithm, greedy)
        self._value_step = make_value_step(model, algorithm)

    def load(self, version: int, arrays: list) -> None:
        """Act with `arrays` (the weight board's layout: trainable then non-trainable) from now on."""
        import jax.numpy as jnp

        self.version, self.params = version, [jnp.asarray(a) for a in arrays]

    def act(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """obs [E, *obs_shape] -> (actions [E] int32, outputs [E, A]: logits or Q values); advances the core."""
        actions, outputs, self.key, self.core = self._policy_step(self.params, obs, self.key, self.epsilon, self.core)
        return np.asarray(actions), np.asarray(outputs)

    def value(self, obs: np.ndarray) -> np.ndarray:
        """obs [E, *obs_shape] -> [E] float32: V (a3c) or max Q, seen with the current core, which is left as is."""
        return np.asarray(self._value_step(self.params, obs, self.core))

    def end_episodes(self, done: np.ndarray) -> None:
        """Zero the recurrent state of the envs whose game ended (done [E] bool)."""
        self.core = reset_core(self.core, done)

    def reset(self) -> None:
        """Every env starts a new game: the whole core back to zero."""
        self.core = initial_core(self.model, self.num_envs)
