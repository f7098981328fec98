"""The unroll schema: what one unroll holds, and the checks an unroll must pass before training.

Both ends of every transport (the local shared-memory queue, the TCP wire) use this one layout.
"""

from __future__ import annotations

import numpy as np

from common.config import is_value_method


def unroll_fields(
    obs_shape, obs_dtype, num_actions: int, T: int, E: int, algorithm: str = "a3c", core_size: int = 0
) -> dict[str, tuple[tuple, str]]:
    """Layout of one unroll: name -> (shape, dtype). core_size: LSTM cells (0: feed-forward model)."""
    fields = {
        "obs": ((T + 1, E, *obs_shape), obs_dtype),  # obs[t] seen before actions[t]; obs[T] bootstraps
        "actions": ((T, E), "int32"),
        "rewards": ((T, E), "float32"),  # clipped if configured
        "dones": ((T, E), "bool"),  # episode over for learning after actions[t]
        "behaviour_logits": ((T, E, num_actions), "float32"),  # a3c: policy logits; value methods: Q values
        "episode_return": ((T, E), "float32"),  # unclipped return of a game ending at t, else NaN
        "episode_length": ((T, E), "int32"),  # agent steps of that game, else 0
    }
    if is_value_method(algorithm):
        fields["epsilon"] = ((1,), "float32")  # the actor's exploration epsilon at the unroll's start
    if algorithm == "sarsa_1step":
        fields["bootstrap_action"] = ((E,), "int32")  # the action the actor takes next, at obs[T]
    if core_size:  # the LSTM state obs[0] was seen with; the learner unrolls from it
        fields["core_h"] = ((E, core_size), "float32")
        fields["core_c"] = ((E, core_size), "float32")
    return fields


MAY_BE_NAN = {"episode_return"}  # NaN marks "no game ended here"; every other float field must be finite


def nbytes(shape, dtype) -> int:
    return int(np.prod(shape)) * np.dtype(dtype).itemsize


def validate_unroll(unroll: dict[str, np.ndarray], fields: dict, num_actions: int) -> str | None:
    """Why an unroll must not be trained on, or None when it is fine."""
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
    return None
