"""Frame stacks sent once per frame: what a remote actor's unroll carries instead of its stacks.

An unroll's `obs` holds (T+1) stacks of K frames per env, and stack t+1 is stack t shifted by one
new frame, except after a reset. Sending each distinct frame once takes T+K frames per env
instead of (T+1) x K (9 instead of 24 at T=5, K=4); the learner re-stacks them exactly.

    pack_stacks(obs)              -> frames [F, H, W], index [T+1, E, K] into frames
    unpack_stacks(frames, index)  -> obs [T+1, E, K, H, W], or ValueError
"""

from __future__ import annotations

import numpy as np

FRAMES, INDEX = "obs_frames", "obs_index"


def is_stacked(obs: np.ndarray) -> bool:
    """Pixel frame stacks [T+1, E, K, H, W] with K > 1; anything else is sent as it is."""
    return stacked_shape(obs.shape)


def stacked_shape(shape: tuple) -> bool:
    """`is_stacked` of an array of this shape."""
    return len(shape) == 5 and shape[2] > 1


def pack_stacks(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """obs [T+1, E, K, H, W] -> (frames [F, H, W], index [T+1, E, K] int32) with frames[index] == obs."""
    steps, envs, k = obs.shape[:3]
    shifted = np.all(obs[1:, :, :-1] == obs[:-1, :, 1:], axis=(2, 3, 4))  # [T, E]: stack t+1 = t + 1 frame
    index = np.empty((steps, envs, k), np.int32)
    picks: list[tuple[int, int, int]] = []  # (t, e, k) of each frame sent
    for e in range(envs):
        for t in range(steps):
            if t > 0 and shifted[t - 1, e]:
                index[t, e, :-1] = index[t - 1, e, 1:]
                index[t, e, -1] = len(picks)
                picks.append((t, e, k - 1))
            else:  # the first stack, or the first after a reset: all of its frames
                index[t, e] = np.arange(len(picks), len(picks) + k)
                picks.extend((t, e, j) for j in range(k))
    t_idx, e_idx, k_idx = (np.array(a, np.intp) for a in zip(*picks))
    return obs[t_idx, e_idx, k_idx], index


def unpack_stacks(frames: np.ndarray, index: np.ndarray, shape: tuple, dtype) -> np.ndarray:
    """frames [F, H, W], index [T+1, E, K] -> obs of `shape` [T+1, E, K, H, W]; ValueError if they do not fit."""
    shape = tuple(shape)
    if frames.ndim != 3 or tuple(frames.shape[1:]) != shape[3:] or frames.dtype != np.dtype(dtype):
        raise ValueError(f"frames {frames.dtype} {tuple(frames.shape)} do not fit stacks of {shape}")
    if tuple(index.shape) != shape[:3] or index.dtype.kind not in "iu":
        raise ValueError(f"frame index {index.dtype} {tuple(index.shape)} does not fit stacks of {shape}")
    if index.size and (index.min() < 0 or index.max() >= len(frames)):
        raise ValueError(f"frame index outside the {len(frames)} frames sent")
    return frames[index]
