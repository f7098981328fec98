"""The batcher stacks B valid unrolls, drops those older than learner.max_policy_lag, counts invalid ones in a row."""

import numpy as np

from common.transport import unroll_fields
from learner.batcher import Batcher

FIELDS = unroll_fields((4,), "float32", 2, T=3, E=2)


class FakeQueue:
    """Hands out unrolls made by the given policy versions, like ExperienceQueue.get."""

    def __init__(self, versions, nan_rewards=()):
        self.fields = FIELDS
        self.versions = list(versions)
        self.nan_rewards = set(nan_rewards)  # indices of the unrolls handed out with a NaN reward
        self.handed = 0
        self.released = 0

    def get(self, timeout):
        if not self.versions:
            return None
        views = {k: np.zeros(shape, dtype) for k, (shape, dtype) in FIELDS.items()}
        views["episode_return"][:] = np.nan
        views["episode_return"][1, 0], views["episode_length"][1, 0] = 7.0, 5  # one game ended in every unroll
        if self.handed in self.nan_rewards:
            views["rewards"][0, 0] = np.nan
        self.handed += 1
        return 0, 0, 0, self.versions.pop(0), views

    def release(self, actor_id, generation, slot):
        self.released += 1


def test_stale_unrolls_are_dropped_and_counted():
    q = FakeQueue([5, 8, 9, 2])
    batcher = Batcher(q, num_actions=2, batch_unrolls=2, prefetch=1, max_policy_lag=3)
    batcher.learner_updates = 9  # + the batch the learner may be training now = 10 when these are trained
    batch, versions = batcher._next_batch()
    assert versions.tolist() == [8, 9]  # lag 5 > 3 dropped; lags 2 and 1 kept
    assert batcher.stale_dropped == 1 and batcher.dropped == 0
    assert batch["obs"].shape == (2, 4, 2, 4)
    assert len(batcher.episodes) == 3  # the dropped unroll's game was still played and is reported
    assert q.released == 3


def test_no_limit_keeps_everything():
    batcher = Batcher(FakeQueue([0, 1]), num_actions=2, batch_unrolls=2, prefetch=1)
    batcher.learner_updates = 1000
    _, versions = batcher._next_batch()
    assert versions.tolist() == [0, 1] and batcher.stale_dropped == 0


def test_invalid_unrolls_in_a_row_are_counted_until_a_valid_one():
    q = FakeQueue([0] * 6, nan_rewards={0, 1, 2, 4})
    batcher = Batcher(q, num_actions=2, batch_unrolls=1, prefetch=1)
    seen = []
    get = q.get
    q.get = lambda timeout: (seen.append(batcher.dropped_in_a_row), get(timeout))[1]
    batcher._next_batch()  # drops 0, 1, 2, takes 3
    batcher._next_batch()  # drops 4, takes 5
    assert seen == [0, 1, 2, 3, 0, 1]  # the count when each unroll was fetched
    assert batcher.dropped == 4 and batcher.dropped_in_a_row == 0
