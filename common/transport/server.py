"""Learner side of the remote transport: serves the ExperienceQueue and WeightBoard over TCP.

Each remote actor connection gets its own channel of the learner's ExperienceQueue
(ids `first_channel` ..): its unrolls are checked on arrival, copied into that
channel's slots and queued exactly like a local actor's, so the batcher sees one
bounded queue. One thread per connection does all reading and writing for it, so
a slow, dead or hostile peer can only stall its own thread, never the batcher or
the train loop. Wire format: common/transport/wire.py.
"""

from __future__ import annotations

import socket
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import wait as wait_connections

import numpy as np

from common import config as config_lib
from common.config import Config, ConfigError
from common.process import derive_seed, get_logger
from common.transport.frames import FRAMES, INDEX, unpack_stacks
from common.transport.local import ExperienceQueue, WeightBoard
from common.transport.schema import UnrollBounds, validate_unroll
from common.transport.wire import (
    FETCH,
    HANDSHAKE_TIMEOUT_S,
    MESSAGE_TIMEOUT_S,
    NO_WEIGHTS,
    PROTOCOL,
    PUT,
    REFUSED,
    ProtocolError,
    authkey_from_env,
    decode_fetch,
    decode_unroll,
    encode_ack,
    encode_hello,
    encode_weights,
    max_unroll_message,
    server_handshake,
    unroll_layouts,
    wrap,
)

MAX_UNAUTHENTICATED = 16  # connections allowed in their handshake at once; more are closed on accept
MAX_VERSION_AGE = 1000  # updates: an older unroll from a remote actor is dropped (learner.max_policy_lag if set)


log = get_logger("learner")


def _shut(sock: socket.socket) -> None:
    """Wake any thread blocked on `sock` (its reads then fail)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Watchdog:
    """Deadlines for blocking socket work, kept by one thread: when a deadline passes, its socket is shut,
    so the read or write blocked on it fails. A deadline covers a whole handshake or message, not one
    read: a peer that sends a length prefix and stops, or trickles, is cut off. One thread for every
    connection, instead of a timer thread per message."""

    def __init__(self, stop: threading.Event, tick_s: float = 0.25):
        self._stop, self._tick_s = stop, tick_s
        self._armed: dict[int, tuple[float, socket.socket]] = {}  # token -> (deadline, socket)
        self._expired: set[int] = set()
        self._lock = threading.Lock()
        self._tokens = 0

    def run(self) -> None:
        while not self._stop.wait(self._tick_s):
            now = time.monotonic()
            with self._lock:
                due = [token for token, (when, _) in self._armed.items() if when <= now]
                socks = [self._armed.pop(token)[1] for token in due]
                self._expired.update(due)
            for sock in socks:
                _shut(sock)

    def deadline(self, sock: socket.socket, seconds: float) -> Deadline:
        with self._lock:
            self._tokens += 1
            self._armed[self._tokens] = (time.monotonic() + seconds, sock)
            return Deadline(self, self._tokens)

    def disarm(self, token: int) -> bool:
        """Forget the deadline; True if it had already passed (and shut the socket)."""
        with self._lock:
            self._armed.pop(token, None)
            if token in self._expired:
                self._expired.discard(token)
                return True
            return False


class Deadline:
    """`with watchdog.deadline(sock, seconds) as d:` ... then `d.expired` says whether it cut the socket."""

    def __init__(self, watchdog: Watchdog, token: int):
        self._watchdog, self._token = watchdog, token
        self.expired = False

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc) -> None:
        self.expired = self._watchdog.disarm(self._token)


class RemoteServer:
    """Listens for remote actors (bound in __init__, so a busy port fails before anything starts)."""

    def __init__(
        self,
        cfg: Config,
        exp_queue: ExperienceQueue,
        board: WeightBoard,
        num_actions: int,
        first_channel: int,
        authkey: bytes | None = None,
        bounds: UnrollBounds | None = None,
    ):
        self.authkey = authkey if authkey is not None else authkey_from_env()  # ConfigError without one
        self.bounds = bounds or UnrollBounds()  # what a plausible unroll holds (common.transport.schema)
        # The oldest policy version accepted, in updates behind the learner's newest weights.
        self.max_version_age = cfg.learner.max_policy_lag if cfg.learner.max_policy_lag is not None else MAX_VERSION_AGE
        self.cfg_dict = config_lib.to_dict(cfg)
        self.seed_base = cfg.seed
        self.exp_queue, self.board, self.num_actions = exp_queue, board, num_actions
        self.fields = exp_queue.fields
        self.layouts = unroll_layouts(self.fields)  # what an unroll message may carry (wire.py)
        self.max_message = max_unroll_message(self.layouts)  # a longer size prefix disconnects, unread
        self._free_channels = list(range(first_channel, first_channel + cfg.remote.max_actors))
        self.dropped = 0  # unrolls refused on arrival (malformed, or from an unknown policy version)
        self.refused = 0  # connections refused: wrong authkey, a malformed handshake, or too many remote actors
        self.connections = 0  # accepted so far; numbers the remote actors' seeds
        self._peers: dict[int, socket.socket] = {}  # channel -> socket of a connected actor
        self._unauthenticated = 0  # connections in their handshake
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog = Watchdog(self._stop)
        self._threads: list[threading.Thread] = []
        host, port = cfg.remote.host, cfg.remote.port
        try:
            self._listener = socket.create_server((host, port), backlog=64)  # SO_REUSEADDR: restarts rebind at once
        except OSError as exc:
            raise ConfigError(f"remote: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        self.address = self._listener.getsockname()[:2]

    # ------------------------------------------------------------ learner side

    def start(self) -> None:
        self._listener.settimeout(0.5)  # accept wakes up to notice `stop`
        for target, name in ((self._watchdog.run, "remote-deadlines"), (self._accept_loop, "remote-accept")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        log.info(f"listening for remote actors on {self.address[0]}:{self.address[1]}")

    def stop(self) -> None:
        """Close the listener and every connection; never waits on a peer."""
        self._stop.set()
        self._listener.close()
        with self._lock:
            peers = list(self._peers.values())
        for sock in peers:  # wakes a thread blocked in a send or receive
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + 3.0
        for t in list(self._threads):
            t.join(timeout=max(deadline - time.monotonic(), 0.01))

    def connected(self) -> int:
        with self._lock:
            return len(self._peers)

    def metrics(self) -> dict:
        return {
            "learner/remote_actors": self.connected(),
            "learner/remote_dropped_unrolls": self.dropped,
            "learner/remote_refused": self.refused,
        }

    # ------------------------------------------------------------ connections

    def _accept_loop(self) -> None:
        """Accept until stopped, whatever fails: out of descriptors (EMFILE), out of threads, a reset."""
        backoff = 0.0
        while not self._stop.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return  # the listener was closed by stop()
                backoff = min(max(2 * backoff, 0.05), 1.0)
                log.warning(f"remote: accept failed ({exc.strerror or exc}); retrying in {backoff:.2f}s")
                time.sleep(backoff)
                continue
            backoff = 0.0
            self._admit(sock, f"{addr[0]}:{addr[1]}")

    def _admit(self, sock: socket.socket, peer: str) -> None:
        """A thread for the new connection, unless MAX_UNAUTHENTICATED connections are already in their
        handshake: then it is closed at once, so unauthenticated peers never hold more than that many."""
        with self._lock:
            admitted = self._unauthenticated < MAX_UNAUTHENTICATED
            self._unauthenticated += admitted
        if not admitted:
            self._count("refused")
            sock.close()
            return
        try:
            t = threading.Thread(target=self._serve, args=(sock, peer), name="remote-actor", daemon=True)
            t.start()
        except RuntimeError as exc:  # can't start new thread
            with self._lock:
                self._unauthenticated -= 1
            sock.close()
            log.warning(f"remote: refused {peer} ({exc})")
            return
        self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _authenticate(self, sock: socket.socket, conn, peer: str) -> bool:
        """The HMAC handshake within HANDSHAKE_TIMEOUT_S in all (a peer trickling bytes is cut off at the
        deadline, not after each read); True if the peer knows the authkey."""
        try:
            with self._watchdog.deadline(sock, HANDSHAKE_TIMEOUT_S):
                server_handshake(sock, conn, self.authkey)
            return True
        except AuthenticationError as exc:
            self._count("refused")
            log.info(f"refused a remote actor from {peer}: {exc}")
            return False
        finally:
            with self._lock:
                self._unauthenticated -= 1

    def _count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def _serve(self, sock: socket.socket, peer: str) -> None:
        try:
            conn = wrap(sock)
        except OSError:  # the peer is already gone
            with self._lock:
                self._unauthenticated -= 1
            sock.close()
            return
        channel = None
        try:
            if not self._authenticate(sock, conn, peer):
                return
            with self._lock:
                channel = self._free_channels.pop(0) if self._free_channels and not self._stop.is_set() else None
                if channel is not None:
                    self._peers[channel] = sock
                    self.connections += 1
                    number = self.connections
            if channel is None:
                self._count("refused")
                log.info(f"refused a remote actor from {peer}: already serving remote.max_actors")
                conn.send_bytes(REFUSED + b"the learner serves remote.max_actors remote actors already")
                return
            end = self.exp_queue.actor_end(channel)
            seed = derive_seed(self.seed_base, "remote", number)
            conn.send_bytes(
                encode_hello(
                    {
                        "protocol": PROTOCOL,
                        "actor_id": channel,
                        "seed": seed,
                        "config": self.cfg_dict,
                        "fields": {k: [list(s), d] for k, (s, d) in self.fields.items()},
                        "slots": self.exp_queue.slots,
                        "shapes": [list(s) for s in self.board.shapes],
                    }
                )
            )
            log.info(f"remote actor {channel} connected from {peer}")
            self._relay(conn, sock, end, channel, peer)
        except ProtocolError as exc:
            log.info(f"closed remote actor {channel} ({peer}): {exc}")
        except (EOFError, OSError):
            pass  # the peer went away or stop() shut the socket
        finally:
            conn.close()
            sock.close()
            if channel is not None:
                self.exp_queue.close_channel(channel)
                with self._lock:
                    self._peers.pop(channel, None)
                    self._free_channels.append(channel)
                if not self._stop.is_set():
                    log.info(f"remote actor {channel} ({peer}) disconnected")

    def _relay(self, conn, sock: socket.socket, end, channel: int, peer: str) -> None:
        """Move unrolls in, freed slots and weights out, until the peer goes or the server stops."""
        views = end.views()  # field -> [slots, ...] numpy views of this channel's slots
        in_queue: set[int] = set()  # slots holding an unroll the batcher has not released yet
        while not self._stop.is_set():
            ready = wait_connections([conn, end.free_r], timeout=0.5)
            if end.free_r in ready:
                for slot in end.returned_slots():
                    in_queue.discard(slot)
                    conn.send_bytes(encode_ack(slot))
            if conn not in ready:
                continue
            msg = self._receive(conn, sock)
            kind = msg[:1]
            if kind == FETCH:
                got = self.board.fetch(decode_fetch(msg))
                conn.send_bytes(NO_WEIGHTS if got is None else encode_weights(*got))
            elif kind == PUT:
                self._take_unroll(msg, conn, end, views, in_queue, channel, peer)
            else:
                raise ProtocolError(f"unknown message kind {kind!r}")

    def _receive(self, conn, sock: socket.socket) -> bytes:
        """The message whose first bytes are readable, whole within MESSAGE_TIMEOUT_S, at most max_message."""
        deadline = self._watchdog.deadline(sock, MESSAGE_TIMEOUT_S)
        try:
            with deadline:
                return conn.recv_bytes(self.max_message)
        except (OSError, EOFError) as exc:
            if exc.args == ("bad message length",):  # the size prefix exceeded max_message
                self._count("dropped")
                raise ProtocolError("sent an oversized message") from None
            if deadline.expired:
                self._count("dropped")
                raise ProtocolError(f"a message did not arrive whole within {MESSAGE_TIMEOUT_S:g} s") from None
            raise

    def _take_unroll(self, msg, conn, end, views, in_queue, channel, peer) -> None:
        try:
            slot, version, arrays = decode_unroll(msg, self.layouts)
        except ProtocolError:
            self._count("dropped")  # not the schema's layout: counted, and the connection is closed
            raise
        if not 0 <= slot < self.exp_queue.slots or slot in in_queue:
            self._count("dropped")
            raise ProtocolError(f"sent into slot {slot}, which it does not hold")
        reason = self._restack(arrays) or self._check(arrays, version)
        if reason is not None:
            self._count("dropped")
            log.info(f"dropped an unroll from remote actor {channel} ({peer}): {reason}")
            conn.send_bytes(encode_ack(slot))  # nothing was queued: the slot is free again at once
            return
        for name in self.fields:
            np.copyto(views[name][slot], arrays[name])
        in_queue.add(slot)
        end.put(slot, version)

    def _restack(self, arrays: dict[str, np.ndarray]) -> str | None:
        """Frames sent once (frames.py) -> arrays["obs"], in place; why they cannot be, or None."""
        if FRAMES not in arrays:  # decode_unroll let through obs, or FRAMES and INDEX
            return None
        shape, dtype = self.fields["obs"]
        try:
            arrays["obs"] = unpack_stacks(arrays.pop(FRAMES), arrays.pop(INDEX), shape, dtype)
        except ValueError as exc:
            return str(exc)
        return None

    def _check(self, arrays: dict[str, np.ndarray], version: int) -> str | None:
        newest = self.board.version
        if not 0 <= version <= newest:
            return f"unknown policy version {version}"
        if version < newest - self.max_version_age:
            return f"policy version {version} is over {self.max_version_age} updates old"
        return validate_unroll(arrays, self.fields, self.num_actions, self.bounds)
