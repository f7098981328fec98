"""Batcher thread: pulls unrolls off the experience queue and stacks B of them for the train step.

Runs beside the train step so that copying and validation never stall it; the
prefetch queue holds `prefetch_batches` ready batches. Every batch is a fresh
set of arrays (JAX may alias host memory it is given, so buffers are never reused).
"""

from __future__ import annotations

import collections
import queue
import threading

import numpy as np

from common.process import get_logger
from common.transport import ExperienceQueue, validate_unroll
from common.transport.schema import UnrollBounds

log = get_logger("learner")


class Batcher(threading.Thread):
    def __init__(
        self,
        exp_queue: ExperienceQueue,
        num_actions: int,
        batch_unrolls: int,
        prefetch: int,
        max_policy_lag: int | None = None,
        bounds: UnrollBounds | None = None,
    ):
        super().__init__(name="batcher", daemon=True)
        self.exp_queue = exp_queue
        self.fields = exp_queue.fields
        self.num_actions = num_actions
        self.bounds = bounds or UnrollBounds()  # what a plausible unroll holds (common.transport.schema)
        self.B = batch_unrolls
        self.out: queue.Queue = queue.Queue(maxsize=prefetch)
        self.episodes: collections.deque = collections.deque()  # (return, length), drained by the train loop
        self.dropped = 0
        self.dropped_in_a_row = 0  # invalid unrolls since the last valid one: the train loop stops on too many
        self.max_policy_lag = max_policy_lag
        # The learner's policy version, i.e. batches trained (`UpdateSchedule`: one version per batch, whatever
        # the optimizer steps per batch); written by the train loop after every update (an int: atomic under the GIL).
        self.learner_updates = 0
        self.stale_dropped = 0  # unrolls older than max_policy_lag
        self.epsilons: dict[int, float] = {}  # value methods: actor id -> mean epsilon of its latest unroll
        self.error: BaseException | None = None
        self._stop_flag = threading.Event()

    def stop(self) -> None:
        self._stop_flag.set()

    def run(self) -> None:
        try:
            while not self._stop_flag.is_set():
                batch = self._next_batch()
                while batch is not None and not self._stop_flag.is_set():
                    try:
                        self.out.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # surfaced by the train loop, which then shuts down
            self.error = exc

    def _lag_when_trained(self, version: int) -> int:
        """The most policy versions the learner can have moved on when it trains this unroll: every batch
        already prefetched and the one it may be training now go first (FIFO), one version each. The queue
        size is read before the update count so that a batch taken in between is counted, never missed."""
        ahead = self.out.qsize() + 1
        return self.learner_updates + ahead - version

    def _next_batch(self):
        """(batch dict of [B, ...] arrays, versions [B] int64), or None when stopping."""
        batch = {k: np.empty((self.B, *shape), dtype) for k, (shape, dtype) in self.fields.items()}
        versions = np.empty(self.B, np.int64)
        b = 0
        while b < self.B:
            if self._stop_flag.is_set():
                return None
            got = self.exp_queue.get(timeout=0.2)
            if got is None:
                continue
            actor_id, generation, slot, version, views = got
            row = {k: batch[k][b] for k in self.fields}
            for k in self.fields:
                np.copyto(row[k], views[k])
            self.exp_queue.release(actor_id, generation, slot)
            reason = validate_unroll(row, self.fields, self.num_actions, self.bounds)  # checked on our copy
            if reason is not None:
                self.dropped += 1
                self.dropped_in_a_row += 1
                log.warning(f"dropped an unroll from actor {actor_id}: {reason}")
                continue
            self.dropped_in_a_row = 0
            ended = ~np.isnan(row["episode_return"])  # [T, E]; counted even if dropped as stale below: they were played
            self.episodes.extend(zip(row["episode_return"][ended].tolist(), row["episode_length"][ended].tolist()))
            if self.max_policy_lag is not None and self._lag_when_trained(version) > self.max_policy_lag:
                self.stale_dropped += 1
                continue
            if "epsilon" in row:
                self.epsilons[actor_id] = float(np.mean(row["epsilon"]))
            versions[b] = version
            b += 1
        return batch, versions
