"""The unroll schema: what one unroll holds, and the checks an unroll must pass before training.

Both ends of every transport (the local shared-memory queue, the TCP wire) use this one layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common import algorithms


def unroll_fields(
    obs_shape,
    obs_dtype,
    num_actions: int,
    T: int,
    E: int,
    algorithm: str | algorithms.Algorithm = "a3c",
    core_size: int = 0,
) -> dict[str, tuple[tuple, str]]:
    """Layout of one unroll: name -> (shape, dtype): the common fields, then those `algorithm` (a name or an
    `Algorithm`) adds. core_size: LSTM cells (0: feed-forward model)."""
    fields = {
        "obs": ((T + 1, E, *obs_shape), obs_dtype),  # obs[t] seen before actions[t]; obs[T] bootstraps
        "actions": ((T, E), "int32"),
        "rewards": ((T, E), "float32"),  # clipped if configured
        "dones": ((T, E), "bool"),  # episode over for learning after actions[t]
        "behaviour_logits": ((T, E, num_actions), "float32"),  # the actor's per-action head: logits or Q values
        "episode_return": ((T, E), "float32"),  # unclipped return of a game ending at t, else NaN
        "episode_length": ((T, E), "int32"),  # agent steps of that game, else 0
    }
    fields.update(algorithms.get(algorithm).unroll_fields(E))  # e.g. epsilon [E]; Sarsa's bootstrap_action [E]
    if core_size:  # the LSTM state obs[0] was seen with; the learner unrolls from it
        fields["core_h"] = ((E, core_size), "float32")
        fields["core_c"] = ((E, core_size), "float32")
    return fields


MAY_BE_NAN = {"episode_return"}  # NaN marks "no game ended here"; every other float field must be finite


def nbytes(shape, dtype) -> int:
    return int(np.prod(shape)) * np.dtype(dtype).itemsize


RAW_REWARD_BOUND = 1e6  # |unclipped reward| of one agent step; Atari scores per step are far below
VALUE_BOUND = 1e6  # |float observation|, |logit or Q value|, |LSTM cell state|
MAX_EPISODE_STEPS = 10_000_000  # agent steps of a game, where the env sets no limit of its own


@dataclass(frozen=True)
class UnrollBounds:
    """What a plausible unroll holds beyond its layout; anything outside is dropped, never trained on.

    reward: |reward| per step. With clipping that is 1 plus what a time-limit cut adds to the last
    reward (gamma V of the last state, |V| <= 1 / (1 - gamma), allowed ten times over since V is an
    estimate); without, the same for RAW_REWARD_BOUND.
    episode_steps: the env's own limit on a game's agent steps; |episode_return| <= its length times
    RAW_REWARD_BOUND.
    """

    reward: float = np.inf
    episode_steps: int = MAX_EPISODE_STEPS

    @classmethod
    def for_run(cls, clip_rewards: bool, gamma: float, episode_steps: int | None) -> UnrollBounds:
        per_step = 1.0 if clip_rewards else RAW_REWARD_BOUND
        # gamma V of a cut game, with ten times room: V is an estimate and may overshoot the true bound.
        cut = 10.0 * per_step * gamma / (1.0 - gamma) if gamma < 1.0 else np.inf
        return cls(reward=per_step + cut, episode_steps=episode_steps or MAX_EPISODE_STEPS)


def validate_unroll(
    unroll: dict[str, np.ndarray], fields: dict, num_actions: int, bounds: UnrollBounds | None = None
) -> str | None:
    """Why an unroll must not be trained on, or None when it is fine (bounds: `UnrollBounds()` if None).

    Used on every unroll of both transports: layout (names, shapes, dtypes), bool bytes 0 or 1,
    finite floats (NaN only in MAY_BE_NAN), actions in range, and `UnrollBounds`."""
    for name, (shape, dtype) in fields.items():
        arr = unroll.get(name)
        if arr is None:
            return f"missing field {name}"
        if tuple(arr.shape) != tuple(shape) or arr.dtype != np.dtype(dtype):
            return f"{name}: got {arr.shape} {arr.dtype}, expected {shape} {dtype}"
    for name in ("actions", "bootstrap_action"):
        acts = unroll.get(name)
        if acts is not None and (acts.min() < 0 or acts.max() >= num_actions):
            return f"{name} out of range"
    for name in fields:
        arr = unroll[name]
        if arr.dtype.kind == "f" and name not in MAY_BE_NAN and not np.isfinite(arr).all():
            return f"non-finite values in {name}"
        # A bool's byte is the peer's (or a shared buffer's) to set: 2 would train with a discount of -gamma.
        if arr.dtype.kind == "b" and arr.size and arr.view(np.uint8).max() > 1:
            return f"{name}: bool bytes other than 0 and 1"
    return _out_of_bounds(unroll, bounds or UnrollBounds())


def _out_of_bounds(unroll: dict[str, np.ndarray], bounds: UnrollBounds) -> str | None:
    """Range checks on finite, well-shaped fields (see `UnrollBounds`)."""
    limits = {"rewards": bounds.reward, "behaviour_logits": VALUE_BOUND, "core_h": 1.0 + 1e-3, "core_c": VALUE_BOUND}
    if unroll["obs"].dtype.kind == "f":
        limits["obs"] = VALUE_BOUND
    for name, limit in limits.items():
        if name in unroll and unroll[name].size and np.abs(unroll[name]).max() > limit:
            return f"{name} beyond +-{limit:g}"
    if "epsilon" in unroll and not np.all((unroll["epsilon"] >= 0.0) & (unroll["epsilon"] <= 1.0)):
        return "epsilon outside [0, 1]"
    ended = ~np.isnan(unroll["episode_return"])  # [T, E]
    lengths = unroll["episode_length"]
    if (lengths < 0).any() or (lengths[ended] < 1).any() or (lengths[ended] > bounds.episode_steps).any():
        return f"episode_length outside 1..{bounds.episode_steps} (0 where no game ended)"
    returns = unroll["episode_return"][ended]
    if (np.isinf(returns) | (np.abs(returns) > lengths[ended] * RAW_REWARD_BOUND)).any():
        return f"episode_return beyond its length x {RAW_REWARD_BOUND:g}"
    return None
