"""Wire format and connection set-up of the remote transport (learner <-> remote actors over TCP).

One TCP connection per remote actor process, framed by `multiprocessing.connection`
(length-prefixed messages) and authenticated by its HMAC challenge with a shared
authkey from the environment (ASYNCRL_AUTHKEY); nothing is unpickled, so an
authenticated but broken client can at worst send bad numbers, which are checked.

Messages (first byte = kind):

    learner -> actor   H hello (JSON: actor id, seed, run config, unroll fields, slots, weight shapes)
                       R refused (UTF-8 reason), then the learner closes
                       A slot is free again (int32 slot)
                       W weights (int64 version + float32 arrays, weight-board order, concatenated)
                       N no newer weights
    actor -> learner   P unroll (uint32 header length + JSON header {slot, version, fields} + array bytes)
                       F fetch weights newer than (int64 version)

Flow control mirrors the local queue: an actor owns `slots` unroll buffers, sends
one only while it holds a free slot, and the learner returns the slot (A) once the
batcher has copied that unroll out, so a learner never holds more than `slots`
unrolls per remote actor.
"""

from __future__ import annotations

import json
import math
import os
import socket
import struct
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge

import numpy as np

from common.config import ConfigError

PROTOCOL = 2
AUTHKEY_ENV = "ASYNCRL_AUTHKEY"
AUTHKEY_FILE_ENV = "ASYNCRL_AUTHKEY_FILE"  # a file holding the secret (Docker secrets)
MAX_AUTHKEY_BYTES = 4096
HELLO, REFUSED, ACK, WEIGHTS, NO_WEIGHTS, PUT, FETCH = (bytes([c]) for c in b"HRAWNPF")

HANDSHAKE_TIMEOUT_S = 10.0  # a peer that connects and says nothing is dropped after this
SEND_TIMEOUT_S = 60.0  # a peer that stops reading fails the send instead of blocking it forever
MESSAGE_TIMEOUT_S = 60.0  # once a message's first bytes arrive, the whole of it must within this
# TCP keepalive: a peer whose machine vanished (no FIN) is noticed in about 10 + 3 x 5 s.
KEEPALIVE = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
# Unroll payloads may only use these array kinds (bool, signed/unsigned int, float).
ALLOWED_KINDS = "biuf"

_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_U32 = struct.Struct("<I")


class ProtocolError(Exception):
    """A message that does not follow the protocol; the connection is closed."""


def authkey_from_env() -> bytes:
    """The shared secret: ASYNCRL_AUTHKEY, else the file named by ASYNCRL_AUTHKEY_FILE (e.g. a Docker
    secret, /run/secrets/asyncrl_authkey; one trailing newline is dropped). ConfigError without one."""
    key = os.environ.get(AUTHKEY_ENV, "")
    path = os.environ.get(AUTHKEY_FILE_ENV, "")
    if not key and path and os.path.exists(path):
        try:
            with open(path, "rb") as fh:
                secret = fh.read(MAX_AUTHKEY_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{AUTHKEY_FILE_ENV}: cannot read {path!r} ({exc.strerror})") from None
        secret = secret[:-1] if secret.endswith(b"\n") else secret
        if not secret or len(secret) > MAX_AUTHKEY_BYTES:
            raise ConfigError(f"{AUTHKEY_FILE_ENV}: {path!r} must hold 1 to {MAX_AUTHKEY_BYTES} bytes of secret")
        return secret
    if not key:
        missing = f" ({AUTHKEY_FILE_ENV} names {path!r}, which does not exist)" if path else ""
        raise ConfigError(
            f"remote actors need a shared secret: set {AUTHKEY_ENV} in the environment, or {AUTHKEY_FILE_ENV} "
            f"to a file holding it (the same secret on the learner and every remote actor){missing}"
        )
    return key.encode()


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` -> (host, port), or ConfigError."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--learner: expected HOST:PORT (e.g. learner:7777), got {text!r}")
    return host, int(port)


# ------------------------------------------------------------------ sockets


def _timeval(seconds: float) -> bytes:
    return struct.pack("ll", int(seconds), int((seconds % 1) * 1e6))


def set_recv_timeout(sock: socket.socket, seconds: float) -> None:
    """Blocking reads fail (OSError) after `seconds`; 0 waits forever."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))


def wrap(sock: socket.socket) -> Connection:
    """A message Connection over a connected TCP socket, with send timeout and keepalive.

    The Connection owns a duplicate of the socket's descriptor; the caller keeps `sock`
    (to set timeouts or `shutdown` it from another thread) and closes both."""
    sock.settimeout(None)  # blocking descriptor: Connection reads and writes it directly
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small acks and requests go out at once
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(SEND_TIMEOUT_S))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE.items():
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    return Connection(os.dup(sock.fileno()))


def server_handshake(sock: socket.socket, conn: Connection, authkey: bytes) -> None:
    """Authenticate a connecting actor; raises multiprocessing.AuthenticationError or OSError/EOFError."""
    set_recv_timeout(sock, HANDSHAKE_TIMEOUT_S)
    deliver_challenge(conn, authkey)
    answer_challenge(conn, authkey)
    set_recv_timeout(sock, 0)


def client_handshake(sock: socket.socket, conn: Connection, authkey: bytes) -> None:
    """Authenticate to the learner; raises multiprocessing.AuthenticationError or OSError/EOFError."""
    set_recv_timeout(sock, HANDSHAKE_TIMEOUT_S)
    answer_challenge(conn, authkey)
    deliver_challenge(conn, authkey)
    set_recv_timeout(sock, 0)


# ------------------------------------------------------------------ messages


def encode_hello(hello: dict) -> bytes:
    return HELLO + json.dumps(hello).encode()


def decode_hello(msg: bytes) -> dict:
    try:
        hello = json.loads(msg[1:])
    except (ValueError, RecursionError):
        raise ProtocolError("hello is not JSON") from None
    if not isinstance(hello, dict) or hello.get("protocol") != PROTOCOL:
        raise ProtocolError(
            f"learner speaks protocol {hello.get('protocol') if isinstance(hello, dict) else '?'}, "
            f"this actor {PROTOCOL}"
        )
    return hello


def encode_ack(slot: int) -> bytes:
    return ACK + _I32.pack(slot)


def decode_ack(msg: bytes) -> int:
    if len(msg) != 1 + _I32.size:
        raise ProtocolError("bad slot message")
    return _I32.unpack_from(msg, 1)[0]


def encode_fetch(have_version: int) -> bytes:
    return FETCH + _I64.pack(have_version)


def decode_fetch(msg: bytes) -> int:
    if len(msg) != 1 + _I64.size:
        raise ProtocolError("bad fetch message")
    return _I64.unpack_from(msg, 1)[0]


def encode_weights(version: int, arrays: list[np.ndarray]) -> bytes:
    return b"".join([WEIGHTS, _I64.pack(version), *(np.ascontiguousarray(a, np.float32).tobytes() for a in arrays)])


def decode_weights(msg: bytes, shapes: list[tuple[int, ...]]) -> tuple[int, list[np.ndarray]]:
    sizes = [int(np.prod(s)) for s in shapes]
    if len(msg) != 1 + _I64.size + 4 * sum(sizes):
        raise ProtocolError("weights do not match the model's shapes")
    version = _I64.unpack_from(msg, 1)[0]
    flat = np.frombuffer(msg, np.float32, sum(sizes), 1 + _I64.size).copy()  # own, aligned, writable
    out, offset = [], 0
    for shape, n in zip(shapes, sizes):
        out.append(flat[offset : offset + n].reshape(shape))
        offset += n
    return version, out


def encode_unroll(slot: int, version: int, arrays: dict[str, np.ndarray]) -> bytes:
    """One unroll: any dict of arrays (the learner checks it against its `unroll_fields`)."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = json.dumps(
        {
            "slot": slot,
            "version": version,
            "fields": [[k, v.dtype.str, list(v.shape)] for k, v in arrays.items()],
        }
    ).encode()
    return b"".join([PUT, _U32.pack(len(header)), header, *(v.tobytes() for v in arrays.values())])


MAX_DIMS = 8  # no unroll field has more axes; numpy refuses more than 64


def decode_unroll(msg: bytes) -> tuple[int, int, dict[str, np.ndarray] | str]:
    """(slot, version, arrays) or (slot, version, why the body is unusable).

    A header that cannot be read raises ProtocolError (the slot is unknown, so the
    connection cannot go on). Arrays are read-only views into `msg`."""
    try:
        (n,) = _U32.unpack_from(msg, 1)
        header = json.loads(msg[1 + _U32.size : 1 + _U32.size + n])
        slot, version, specs = header["slot"], header["version"], header["fields"]
    except (struct.error, ValueError, KeyError, TypeError, RecursionError):  # RecursionError: [[[[...]]]]
        raise ProtocolError("unreadable unroll header") from None
    if type(slot) is not int or type(version) is not int or not isinstance(specs, list):
        raise ProtocolError("unroll header has the wrong types")
    offset = 1 + _U32.size + n
    arrays = {}
    for spec in specs:
        try:
            name, dtype, shape = spec
            dtype = np.dtype(dtype)
            shape = tuple(shape)
        except (TypeError, ValueError):
            return slot, version, f"unreadable field description {spec!r}"[:200]
        if (
            not isinstance(name, str)
            or dtype.kind not in ALLOWED_KINDS
            or dtype.itemsize > 16
            or len(shape) > MAX_DIMS
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            return slot, version, f"field {name!r}: unusable dtype or shape {dtype} {shape}"[:200]
        count = math.prod(shape)  # Python ints: a forged huge shape cannot overflow
        if offset + count * dtype.itemsize > len(msg):
            return slot, version, "message shorter than its fields"
        arrays[name] = np.frombuffer(msg, dtype, count, offset).reshape(shape)
        offset += count * dtype.itemsize
    if offset != len(msg):
        return slot, version, "message longer than its fields"
    return slot, version, arrays
