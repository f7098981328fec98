"""Frame stacks packed as single frames (common/transport/frames.py) against a plain re-stacking."""

import numpy as np
import pytest

from common.transport.frames import is_stacked, pack_stacks, unpack_stacks


def stacks_of_a_stream(steps, envs, k, resets, size=6, seed=0):
    """[steps, envs, k, size, size] uint8 stacks as a frame-stacking env makes them: each step drops the
    oldest frame and appends a new one; at a reset (t, e) in `resets` the stack is the new frame k times."""
    rng = np.random.default_rng(seed)
    obs = np.empty((steps, envs, k, size, size), np.uint8)
    for e in range(envs):
        stack = [rng.integers(0, 256, (size, size), np.uint8) for _ in range(k)]
        for t in range(steps):
            new = rng.integers(0, 256, (size, size), np.uint8)
            stack = [new] * k if (t, e) in resets else (stack if t == 0 else stack[1:] + [new])
            obs[t, e] = np.stack(stack)
    return obs


def test_a_stream_without_resets_sends_t_plus_k_frames_per_env():
    obs = stacks_of_a_stream(steps=6, envs=3, k=4, resets=set())
    frames, index = pack_stacks(obs)
    assert frames.shape == (3 * (6 + 3), 6, 6) and index.shape == (6, 3, 4)  # 9 frames per env, not 24
    np.testing.assert_array_equal(unpack_stacks(frames, index, obs.shape, obs.dtype), obs)


def test_resets_and_unrelated_stacks_still_come_back_exactly():
    obs = stacks_of_a_stream(steps=6, envs=2, k=4, resets={(2, 0), (5, 0), (3, 1)})
    frames, index = pack_stacks(obs)
    assert len(frames) == 2 * 9 + 3 * 3  # each reset sends a whole stack: 3 frames more
    np.testing.assert_array_equal(frames[index], obs)
    noise = np.random.default_rng(1).integers(0, 256, (3, 2, 4, 5, 5), np.uint8)  # no stack follows another
    frames, index = pack_stacks(noise)
    assert len(frames) == 3 * 2 * 4
    np.testing.assert_array_equal(unpack_stacks(frames, index, noise.shape, noise.dtype), noise)


def test_only_pixel_stacks_are_packed():
    assert is_stacked(np.zeros((6, 8, 4, 84, 84), np.uint8))
    assert not is_stacked(np.zeros((6, 8, 4), np.float32))  # CartPole
    assert not is_stacked(np.zeros((6, 8, 1, 84, 84), np.uint8))  # one frame: nothing to share


@pytest.mark.parametrize(
    "frames, index, why",
    [
        (np.zeros((9, 6, 6), np.uint8), np.full((6, 1, 4), 9, np.int32), "outside the 9 frames"),
        (np.zeros((9, 6, 6), np.uint8), np.full((6, 1, 4), -1, np.int32), "outside the 9 frames"),
        (np.zeros((9, 5, 6), np.uint8), np.zeros((6, 1, 4), np.int32), "do not fit"),
        (np.zeros((9, 6, 6), np.float32), np.zeros((6, 1, 4), np.int32), "do not fit"),
        (np.zeros((9, 6, 6), np.uint8), np.zeros((6, 2, 4), np.int32), "does not fit"),
        (np.zeros((9, 6, 6), np.uint8), np.zeros((6, 1, 4), np.float32), "does not fit"),
    ],
)
def test_frames_that_do_not_fit_the_stacks_are_refused(frames, index, why):
    with pytest.raises(ValueError, match=why):
        unpack_stacks(frames, index, (6, 1, 4, 6, 6), np.uint8)
