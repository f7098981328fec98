"""Actor side of the remote transport: a connection to the learner that looks like the local one.

`connect` returns a `Link`; `RemoteEnd(link)` has the methods of
`common.transport.ActorEnd` (views / acquire / put) and `RemoteBoard(link)` those of
`WeightBoard` (fetch / wait), so `actor.loop.run_actor` runs unchanged on them. When
the learner goes away they raise `LearnerLost`; the caller reconnects. Wire format:
common/transport/wire.py.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import numpy as np

from common.transport.frames import FRAMES, INDEX, is_stacked, pack_stacks
from common.transport.local import poll_for_weights
from common.transport.wire import (
    ACK,
    HANDSHAKE_TIMEOUT_S,
    NO_WEIGHTS,
    REFUSED,
    WEIGHTS,
    ProtocolError,
    client_handshake,
    decode_ack,
    decode_hello,
    decode_weights,
    encode_fetch,
    encode_unroll,
    wrap,
)

REPLY_TIMEOUT_S = 60.0  # the learner answers a weights request at once; silence this long means it is gone
CONNECT_TIMEOUT_S = 5.0
MAX_HELLO_BYTES = 16 << 20  # the learner's hello: the run's config and the layouts, a few kB


class LearnerLost(ConnectionError):
    """The learner closed the connection, stopped answering, or broke the protocol."""


class LearnerRefused(ConnectionError):
    """The learner is up but serves no more remote actors right now."""


class Link:
    """One authenticated connection; the state RemoteEnd and RemoteBoard share. One thread only."""

    def __init__(self, sock: socket.socket, conn, hello: dict):
        self.sock, self.conn = sock, conn
        self.actor_id: int = hello["actor_id"]
        self.seed: int = hello["seed"]
        self.config: dict = hello["config"]
        self.slots: int = hello["slots"]
        self.fields = {k: (tuple(s), d) for k, (s, d) in hello["fields"].items()}  # name -> (shape, dtype)
        self.shapes = [tuple(s) for s in hello["shapes"]]  # weight-board order
        self.free = list(range(self.slots))  # slots not yet handed to the learner (or handed back)
        self.buffers = {k: np.zeros((self.slots, *s), d) for k, (s, d) in self.fields.items()}  # [slots, *shape]
        # The largest message the learner sends is the weights; a longer size prefix means a broken link.
        self.max_message = 1 + 8 + 4 * sum(int(np.prod(s)) for s in self.shapes) + 1024

    def close(self) -> None:
        self.conn.close()
        self.sock.close()

    def send(self, msg: bytes) -> None:
        try:
            self.conn.send_bytes(msg)
        except OSError as exc:
            raise LearnerLost(f"send failed ({exc})") from None

    def recv(self, timeout: float) -> bytes | None:
        """The next message that is not a returned slot, or None after `timeout`; returned slots go to `free`."""
        deadline = time.monotonic() + timeout
        try:
            while self.conn.poll(max(deadline - time.monotonic(), 0.0)):
                msg = self.conn.recv_bytes(self.max_message)  # OSError past it: reconnect, never MemoryError
                if msg[:1] != ACK:
                    return msg
                self.free.append(decode_ack(msg))
                if timeout <= 0 or self.free:
                    return None  # the caller waited for a slot, or only collects what is there
        except (EOFError, OSError) as exc:
            raise LearnerLost(f"connection lost ({type(exc).__name__})") from None
        except ProtocolError as exc:
            raise LearnerLost(str(exc)) from None
        return None


class RemoteEnd:
    """`ActorEnd` over TCP: unroll slots live here and are sent whole on `put`."""

    def __init__(self, link: Link):
        self.link = link

    def views(self) -> dict[str, np.ndarray]:
        return self.link.buffers

    def acquire(self, timeout: float) -> int | None:
        """A free slot, or None if the learner handed none back within `timeout` (its queue is full)."""
        link = self.link
        deadline = time.monotonic() + timeout
        while True:
            msg = link.recv(0.0 if link.free else max(deadline - time.monotonic(), 0.0))
            if msg is not None:
                raise LearnerLost(f"unexpected message {msg[:1]!r}")
            if link.free or time.monotonic() >= deadline:
                break
        return link.free.pop(0) if link.free else None

    def put(self, slot: int, version: int) -> None:
        """Send the unroll in `slot`; pixel frame stacks go as each distinct frame once (frames.py)."""
        arrays = {k: v[slot] for k, v in self.link.buffers.items()}
        if is_stacked(arrays["obs"]):
            arrays[FRAMES], arrays[INDEX] = pack_stacks(arrays.pop("obs"))
        self.link.send(encode_unroll(slot, version, arrays))


class RemoteBoard:
    """`WeightBoard` over TCP: each `fetch` asks the learner for weights newer than a version."""

    def __init__(self, link: Link):
        self.link = link
        self.shapes = link.shapes

    def fetch(self, have_version: int) -> tuple[int, list[np.ndarray]] | None:
        link = self.link
        link.send(encode_fetch(have_version))
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = link.recv(max(deadline - time.monotonic(), 0.0))
            if msg is None:
                continue  # only returned slots so far
            if msg[:1] == NO_WEIGHTS:
                return None
            if msg[:1] == WEIGHTS:
                try:
                    return decode_weights(msg, self.shapes)
                except ProtocolError as exc:
                    raise LearnerLost(str(exc)) from None
            raise LearnerLost(f"unexpected message {msg[:1]!r}")
        raise LearnerLost(f"no answer to a weights request within {REPLY_TIMEOUT_S:.0f}s")

    def wait(
        self, have_version: int, timeout: float, should_stop: Callable[[], bool] = lambda: False
    ) -> tuple[int, list[np.ndarray]] | None:
        """Block until a version newer than `have_version` exists; None on timeout or stop."""
        return poll_for_weights(self.fetch, have_version, timeout, should_stop, poll_s=0.2)  # each poll is a round trip


def connect(host: str, port: int, authkey: bytes) -> Link:
    """Connect and authenticate. Raises OSError/EOFError (learner not reachable), LearnerLost,
    LearnerRefused, or multiprocessing.AuthenticationError (the authkeys differ)."""
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    conn = wrap(sock)
    try:
        try:
            client_handshake(sock, conn, authkey)
        except ProtocolError as exc:
            raise LearnerLost(str(exc)) from None
        if not conn.poll(HANDSHAKE_TIMEOUT_S):
            raise LearnerLost("no hello from the learner")
        msg = conn.recv_bytes(MAX_HELLO_BYTES)
        if msg[:1] == REFUSED:
            raise LearnerRefused(msg[1:].decode(errors="replace"))
        try:
            hello = decode_hello(msg)
        except ProtocolError as exc:
            raise LearnerLost(str(exc)) from None
        return Link(sock, conn, hello)
    except BaseException:
        conn.close()
        sock.close()
        raise
