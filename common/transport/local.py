"""Local transport between actor processes and the learner (all `spawn`-safe).

ExperienceQueue -- the bounded queue of unrolls. Each actor owns `slots` unroll
buffers in shared memory and writes its unroll straight into one of them; it
then sends a 12-byte "slot full" note on its own pipe and the learner, once it
has copied the slot out, sends the slot back on a second pipe. An actor with
every slot in flight blocks in `acquire`: that is the queue's bound
(capacity = actors x slots). Why not one `multiprocessing.Queue` of pickled
unrolls: an actor killed while its feeder thread is halfway through writing a
multi-megabyte unroll leaves a partial message in the shared pipe (and its lock
held), and the learner then hangs forever. Here every message is far below
PIPE_BUF (written atomically), pipes are per actor, and a restarted actor gets
fresh pipes; frames are also copied once instead of being pickled twice.

WeightBoard -- one writer (learner), many readers (actors). Flat float32
buffer in shared memory with a version counter, guarded by a seqlock: readers
never block the writer and a reader killed mid-copy leaves nothing locked.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_connections
from typing import Any

import numpy as np

from common.transport.schema import nbytes

_NOTE = struct.Struct("<iq")  # (slot, policy_version)


def _views(raw, fields: dict, slots: int) -> dict[str, np.ndarray]:
    """Numpy views [slots, *shape] of each field over one shared byte buffer."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    out, offset = {}, 0
    for name, (shape, dtype) in fields.items():
        n = nbytes(shape, dtype) * slots
        out[name] = buf[offset : offset + n].view(dtype).reshape(slots, *shape)
        offset += n
    return out


@dataclass
class ActorEnd:
    """What one actor process holds: its slots, its two pipes, its put counter. Picklable at spawn."""

    raw: Any  # multiprocessing RawArray of bytes holding [slots] unrolls
    fields: dict
    slots: int
    full_w: Connection  # actor -> learner, "slot full"
    free_r: Connection  # learner -> actor, "slot free"
    counters: Any  # multiprocessing RawArray int64 [2]: puts (actor writes), gets (learner writes)

    def __post_init__(self):
        self._free = list(range(self.slots))  # every slot starts free
        self._views = None

    def views(self) -> dict[str, np.ndarray]:
        if self._views is None:
            self._views = _views(self.raw, self.fields, self.slots)
        return self._views

    def acquire(self, timeout: float) -> int | None:
        """A free slot index, or None if the learner returned none within `timeout` (queue full)."""
        if not self._free and self.free_r.poll(timeout):
            self._free.append(_NOTE.unpack(self.free_r.recv_bytes())[0])
        while self.free_r.poll(0):  # collect every returned slot without waiting
            self._free.append(_NOTE.unpack(self.free_r.recv_bytes())[0])
        return self._free.pop(0) if self._free else None

    def put(self, slot: int, version: int) -> None:
        """Hand a written slot to the learner; `version` is the policy version that made it."""
        np.frombuffer(self.counters, dtype=np.int64)[0] += 1
        self.full_w.send_bytes(_NOTE.pack(slot, version))

    def returned_slots(self) -> list[int]:
        """Slots the learner gave back since the last call, without waiting.

        For a holder that tracks its slots itself (the remote server relays them to a
        remote actor); do not mix with `acquire` on the same end."""
        out = []
        while self.free_r.poll(0):
            out.append(_NOTE.unpack(self.free_r.recv_bytes())[0])
        return out


class ExperienceQueue:
    """Learner side of all actor channels. `get` is called from the batcher thread only.

    A channel is opened by `actor_end` (a local actor process, or the remote server on
    behalf of a remote actor) and closed by `close_channel` or `close`."""

    def __init__(self, ctx, fields: dict, num_actors: int, slots: int):
        self.ctx, self.fields, self.slots = ctx, fields, slots
        self._slot_bytes = sum(nbytes(s, d) for s, d in fields.values())
        # Replaced per actor generation (see actor_end), so a restarted actor never writes
        # into a buffer the batcher may still be copying from.
        self._raw: list = [None] * num_actors
        self._views: list = [None] * num_actors
        self._counters = [ctx.RawArray("b", 16) for _ in range(num_actors)]  # int64 [puts, gets]
        self._pipes: list[tuple | None] = [None] * num_actors  # (full_r, full_w, free_r, free_w)
        self._generation = [0] * num_actors
        self._in_use: set[int] = set()  # channels opened by actor_end and not given up by close_channel
        self._lock = threading.Lock()
        self._last_served = -1

    @property
    def capacity(self) -> int:
        """Unrolls the channels in use can hold (a remote actor's channel counts while it is connected)."""
        return len(self._in_use) * self.slots

    def actor_end(self, actor_id: int) -> ActorEnd:
        """Fresh pipes for (re)starting actor `actor_id`; notes from its previous process are dropped."""
        with self._lock:
            self._close(actor_id)
            full_r, full_w = self.ctx.Pipe(duplex=False)
            free_r, free_w = self.ctx.Pipe(duplex=False)
            self._pipes[actor_id] = (full_r, full_w, free_r, free_w)
            self._generation[actor_id] += 1
            self._in_use.add(actor_id)
            self._raw[actor_id] = self.ctx.RawArray("b", self._slot_bytes * self.slots)
            self._views[actor_id] = _views(self._raw[actor_id], self.fields, self.slots)
            c = np.frombuffer(self._counters[actor_id], dtype=np.int64)
            c[1] = c[0]  # slots of the old process are forgotten: fill restarts at 0
            return ActorEnd(self._raw[actor_id], self.fields, self.slots, full_w, free_r, self._counters[actor_id])

    def _close(self, actor_id: int) -> None:
        pipes = self._pipes[actor_id]
        if pipes is not None:
            for conn in pipes:
                conn.close()
            self._pipes[actor_id] = None

    def close_channel(self, actor_id: int) -> None:
        """Forget channel `actor_id` (its actor is gone): unrolls it had queued are dropped."""
        with self._lock:
            self._close(actor_id)
            self._in_use.discard(actor_id)
            c = np.frombuffer(self._counters[actor_id], dtype=np.int64)
            c[1] = c[0]

    def puts(self, actor_id: int) -> int:
        """Unrolls actor `actor_id` has handed over so far (all of its generations)."""
        return int(np.frombuffer(self._counters[actor_id], dtype=np.int64)[0])

    def queued(self, actor_id: int) -> int:
        """Unrolls of actor `actor_id` waiting for the learner (handed over, not yet taken)."""
        puts, gets = np.frombuffer(self._counters[actor_id], dtype=np.int64)
        return max(int(puts - gets), 0)

    def close(self) -> None:
        with self._lock:
            for i in range(len(self._pipes)):
                self._close(i)

    def get(self, timeout: float):
        """Next full slot as (actor_id, generation, slot, version, views), or None after `timeout`.

        Ready actors are served round-robin so a fast actor cannot starve a slow one."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            with self._lock:
                readers = {p[0]: i for i, p in enumerate(self._pipes) if p is not None}
            if not readers:
                time.sleep(min(0.05, remaining))
                continue
            n = len(self._pipes)
            try:
                ready = wait_connections(list(readers), timeout=remaining)
            except (OSError, ValueError):  # a pipe was closed by an actor restart meanwhile
                continue
            ready = sorted(ready, key=lambda c: (readers[c] - self._last_served - 1) % n)
            for conn in ready:
                i = readers[conn]
                with self._lock:
                    pipes = self._pipes[i]
                    if pipes is None or pipes[0] is not conn:
                        continue  # actor was restarted meanwhile
                    try:
                        slot, version = _NOTE.unpack(conn.recv_bytes())
                    except (EOFError, OSError):
                        continue
                    np.frombuffer(self._counters[i], dtype=np.int64)[1] += 1
                    self._last_served = i
                    views = {k: v[slot] for k, v in self._views[i].items()}
                    return i, self._generation[i], slot, version, views
        return None

    def release(self, actor_id: int, generation: int, slot: int) -> None:
        """Give a slot back to its actor once its data was copied out."""
        with self._lock:
            pipes = self._pipes[actor_id]
            if self._generation[actor_id] != generation or pipes is None:
                return
            try:
                pipes[3].send_bytes(_NOTE.pack(slot, 0))
            except (BrokenPipeError, OSError):
                pass

    def fill(self) -> int:
        """Unrolls written by actors and not yet taken by the learner."""
        total = 0
        for c in self._counters:
            puts, gets = np.frombuffer(c, dtype=np.int64)
            total += max(int(puts - gets), 0)
        return total


class WeightBoard:
    """Versioned weights in shared memory. `publish` from the learner; `fetch` from actors."""

    def __init__(self, ctx, shapes: list[tuple[int, ...]]):
        self.shapes = [tuple(s) for s in shapes]
        self._sizes = [int(np.prod(s)) for s in self.shapes]
        self._flat = ctx.RawArray("f", max(sum(self._sizes), 1))
        self._meta = ctx.RawArray("b", 16)  # int64 [seqlock counter, version]; version -1 = nothing yet
        np.frombuffer(self._meta, dtype=np.int64)[1] = -1

    @property
    def _arr(self):
        return np.frombuffer(self._flat, dtype=np.float32)

    @property
    def _m(self):
        return np.frombuffer(self._meta, dtype=np.int64)

    @property
    def version(self) -> int:
        return int(self._m[1])

    def publish(self, version: int, arrays) -> None:
        """Store `arrays` (weight-board order) as `version`; only the learner calls this."""
        flat, m = self._arr, self._m
        m[0] += 1  # odd: write in progress
        offset = 0
        for a, n in zip(arrays, self._sizes):
            flat[offset : offset + n] = np.asarray(a, dtype=np.float32).reshape(-1)
            offset += n
        m[1] = version
        m[0] += 1  # even: consistent again

    def fetch(self, have_version: int) -> tuple[int, list[np.ndarray]] | None:
        """(version, arrays) if a version newer than `have_version` was published, else None."""
        flat, m = self._arr, self._m
        for _ in range(1000):
            seq = int(m[0])
            if seq & 1:
                time.sleep(0.0005)
                continue
            version = int(m[1])
            if version <= have_version:
                return None
            copy = flat.copy()
            if int(m[0]) == seq:
                out, offset = [], 0
                for shape, n in zip(self.shapes, self._sizes):
                    out.append(copy[offset : offset + n].reshape(shape))
                    offset += n
                return version, out
        return None

    def wait(
        self, have_version: int, timeout: float, should_stop: Callable[[], bool] = lambda: False
    ) -> tuple[int, list[np.ndarray]] | None:
        """Block until a version newer than `have_version` exists; None on timeout or stop."""
        return poll_for_weights(self.fetch, have_version, timeout, should_stop, poll_s=0.01)


def poll_for_weights(fetch, have_version: int, timeout: float, should_stop, poll_s: float):
    """`fetch(have_version)` every `poll_s` until it gives (version, arrays); None on timeout or stop.
    Shared by the local weight board and the remote one (common.transport.client)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not should_stop():
        got = fetch(have_version)
        if got is not None:
            return got
        time.sleep(poll_s)
    return None
