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

An unroll's `fields` are [name, dtype string, shape] in the order of its array bytes; they must be
exactly one of the learner's `unroll_layouts` (its schema's names, dtype strings and shapes), else
the learner closes the connection.

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
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, answer_challenge, deliver_challenge

import numpy as np

from common.config import ConfigError
from common.transport.frames import FRAMES, INDEX, stacked_shape

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
    """Authenticate a connecting actor, both ways. Raises AuthenticationError (a wrong authkey, or a
    handshake that breaks the protocol), OSError (silent, or a message over 256 bytes) or EOFError."""
    set_recv_timeout(sock, HANDSHAKE_TIMEOUT_S)
    try:
        deliver_challenge(conn, authkey)
    except AuthenticationError:
        raise AuthenticationError("wrong authkey") from None
    try:
        answer_challenge(conn, authkey)
    except AssertionError:  # Python 3.11 asserts that a challenge starts with its prefix (3.12 raises the below)
        raise AuthenticationError("its challenge is malformed") from None
    except AuthenticationError:
        raise AuthenticationError("it sent a malformed challenge or rejected the answer") from None
    set_recv_timeout(sock, 0)


def client_handshake(sock: socket.socket, conn: Connection, authkey: bytes) -> None:
    """Authenticate to the learner, both ways. Raises AuthenticationError (the authkeys differ),
    ProtocolError (not a learner's handshake), OSError or EOFError."""
    set_recv_timeout(sock, HANDSHAKE_TIMEOUT_S)
    try:
        answer_challenge(conn, authkey)
    except AssertionError:  # Python 3.11, on a challenge without its prefix
        raise ProtocolError("the learner's challenge is malformed") from None
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
    """One unroll: any dict of arrays (the learner accepts only one of its `unroll_layouts`)."""
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    header = json.dumps(
        {
            "slot": slot,
            "version": version,
            "fields": [[k, v.dtype.str, list(v.shape)] for k, v in arrays.items()],
        }
    ).encode()
    return b"".join([PUT, _U32.pack(len(header)), header, *(v.tobytes() for v in arrays.values())])


MAX_HEADER_BYTES = 4096  # an unroll header is a few hundred bytes; a longer one is refused unread

# What an unroll message may carry: field -> (the sizes each axis may have, the dtype).
Layout = dict[str, tuple[tuple[range, ...], np.dtype]]


def unroll_layouts(fields: dict[str, tuple[tuple, str]]) -> list[Layout]:
    """The layouts an unroll message may have: the schema's `fields`, each of its one shape and dtype;
    for pixel frame stacks also the same with FRAMES [F, H, W] (1 <= F <= (T+1) E K, every frame
    distinct at most) and INDEX [T+1, E, K] int32 in place of obs (frames.py)."""
    exact: Layout = {name: (tuple(range(n, n + 1) for n in shape), np.dtype(d)) for name, (shape, d) in fields.items()}
    obs_shape, obs_dtype = fields["obs"]
    if not stacked_shape(obs_shape):
        return [exact]
    packed = {name: spec for name, spec in exact.items() if name != "obs"}
    packed[FRAMES] = ((range(1, math.prod(obs_shape[:3]) + 1), *exact["obs"][0][3:]), np.dtype(obs_dtype))
    packed[INDEX] = (exact["obs"][0][:3], np.dtype(np.int32))
    return [exact, packed]


def max_unroll_message(layouts: list[Layout]) -> int:
    """Bytes of the longest unroll message any of `layouts` allows (a longer one is refused unread)."""

    def longest(layout: Layout) -> int:
        return sum(math.prod(r.stop - 1 for r in dims) * dtype.itemsize for dims, dtype in layout.values())

    return 1 + _U32.size + MAX_HEADER_BYTES + max(longest(layout) for layout in layouts)


def decode_unroll(msg: bytes, layouts: list[Layout]) -> tuple[int, int, dict[str, np.ndarray]]:
    """(slot, version, arrays) of an unroll laid out exactly as one of `layouts`, else ProtocolError.

    Refusing costs the same whatever the peer sends: the header is at most MAX_HEADER_BYTES of JSON,
    the peer's dtypes are compared as strings with the schema's (never parsed), and arrays are laid
    out only once every name, dtype and shape and the byte count match. Arrays are read-only views
    into `msg`; their values are for `validate_unroll` to judge."""
    slot, version, specs, offset = _read_header(msg)
    names = [spec[0] for spec in specs]
    layout = next((lay for lay in layouts if len(lay) == len(names) and set(lay) == set(names)), None)
    if layout is None:
        raise ProtocolError(f"unroll fields {names} are not the schema's"[:200])
    laid_out = []  # (name, dtype, shape, offset)
    for name, dtype_str, shape in specs:
        dims, dtype = layout[name]
        if dtype_str != dtype.str or not _fits(shape, dims):
            raise ProtocolError(f"field {name!r}: not {dtype.str} {_describe(dims)}")  # a known name: short
        laid_out.append((name, dtype, tuple(shape), offset))
        offset += math.prod(shape) * dtype.itemsize  # shapes within the schema's: small Python ints
    if offset != len(msg):
        raise ProtocolError(f"unroll of {len(msg)} bytes, its fields need {offset}")
    arrays = {
        name: np.frombuffer(msg, dtype, math.prod(shape), at).reshape(shape) for name, dtype, shape, at in laid_out
    }
    return slot, version, arrays


def _read_header(msg: bytes) -> tuple[int, int, list[list], int]:
    """(slot, version, [[name, dtype string, shape], ...], offset of the first array), else ProtocolError."""
    if len(msg) < 1 + _U32.size:
        raise ProtocolError("unroll message too short")
    (n,) = _U32.unpack_from(msg, 1)
    if n > MAX_HEADER_BYTES:
        raise ProtocolError(f"unroll header of {n} bytes (at most {MAX_HEADER_BYTES})")
    try:
        header = json.loads(msg[1 + _U32.size : 1 + _U32.size + n])
    except (ValueError, RecursionError):  # not UTF-8 or not JSON; nested past the recursion limit
        raise ProtocolError("unroll header is not JSON") from None
    if type(header) is not dict or set(header) != {"slot", "version", "fields"}:
        raise ProtocolError("unroll header must hold slot, version and fields, and nothing else")
    slot, version, specs = header["slot"], header["version"], header["fields"]
    if type(slot) is not int or type(version) is not int or type(specs) is not list:
        raise ProtocolError("unroll header has the wrong types")
    if not all(type(spec) is list and len(spec) == 3 and type(spec[0]) is str for spec in specs):
        raise ProtocolError("unroll fields must be [name, dtype, shape]")
    return slot, version, specs, 1 + _U32.size + n


def _fits(shape, dims: tuple[range, ...]) -> bool:
    """`shape` (from the peer) is a list of ints, each within its axis' range."""
    if type(shape) is not list or len(shape) != len(dims):
        return False
    return all(type(n) is int and n in r for n, r in zip(shape, dims))


def _describe(dims: tuple[range, ...]) -> str:
    return "[" + ", ".join(str(r.start) if len(r) == 1 else f"{r.start}..{r.stop - 1}" for r in dims) + "]"
