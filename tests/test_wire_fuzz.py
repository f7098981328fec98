"""Seeded fuzzing of what an authenticated (or not) peer can send the learner: the unroll decoder and
the handshake. Every message is either exactly a schema-valid unroll or refused by the documented
exception (ProtocolError from `decode_unroll`; AuthenticationError, OSError or EOFError from
`server_handshake`), never anything else; an unroll that decodes is then judged by the learner's own
checks (`unpack_stacks`, `validate_unroll`) without raising."""

import json
import os
import socket
import struct
import threading
from multiprocessing import AuthenticationError
from multiprocessing.connection import CHALLENGE, WELCOME, Connection, answer_challenge

import numpy as np
import pytest
from test_frames import stacks_of_a_stream

from common.transport import unroll_fields, validate_unroll
from common.transport.frames import FRAMES, INDEX, pack_stacks, unpack_stacks
from common.transport.schema import MAY_BE_NAN, UnrollBounds
from common.transport.wire import (
    PUT,
    ProtocolError,
    client_handshake,
    decode_unroll,
    encode_unroll,
    server_handshake,
    set_recv_timeout,
    unroll_layouts,
)

NUM_ACTIONS = 3
SCHEMAS = {
    "vector a3c": unroll_fields((4,), "float32", NUM_ACTIONS, T=3, E=2),
    "pixels, sarsa, lstm": unroll_fields(
        (4, 6, 6), "uint8", NUM_ACTIONS, T=3, E=2, algorithm="sarsa_1step", core_size=2
    ),
}
KEY = b"fuzz-secret"


def plausible_unroll(fields, rng) -> dict[str, np.ndarray]:
    """Random values every check accepts (games end nowhere), in the schema's layout."""
    u = {k: np.zeros(shape, dtype) for k, (shape, dtype) in fields.items()}
    steps, envs, *rest = fields["obs"][0]
    if u["obs"].dtype == np.uint8:  # frame stacks [T+1, E, K, H, W]
        resets = {(int(rng.integers(1, steps)), int(rng.integers(envs)))}
        u["obs"] = stacks_of_a_stream(steps, envs, rest[0], resets, rest[1], int(rng.integers(1 << 30)))
    else:
        u["obs"][:] = rng.normal(size=u["obs"].shape)
    for name in ("actions", "bootstrap_action"):
        if name in u:
            u[name][:] = rng.integers(0, NUM_ACTIONS, u[name].shape)
    u["rewards"][:] = rng.uniform(-1, 1, u["rewards"].shape)
    u["dones"][:] = rng.random(u["dones"].shape) < 0.3
    u["behaviour_logits"][:] = rng.normal(size=u["behaviour_logits"].shape)
    u["episode_return"][:] = np.nan
    if "epsilon" in u:
        u["epsilon"][:] = rng.random(u["epsilon"].shape)
    return u


def valid_message(fields, rng) -> bytes:
    u = plausible_unroll(fields, rng)
    if u["obs"].ndim == 5 and rng.random() < 0.5:  # what a remote actor sends for pixel stacks
        u[FRAMES], u[INDEX] = pack_stacks(u.pop("obs"))
    names = list(u)
    rng.shuffle(names)  # any order of fields is allowed
    return encode_unroll(int(rng.integers(0, 4)), int(rng.integers(0, 3)), {k: u[k] for k in names})


def split(msg: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack_from("<I", msg, 1)
    return json.loads(msg[5 : 5 + n]), msg[5 + n :]


def join(header, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return PUT + struct.pack("<I", len(raw)) + raw + body


ODD_VALUES = [-1, 0, 1, 2**31, 2**64, -(2**70), True, None, 1.5, "2", [], {}, "<f4", "x" * 300]
ODD_DTYPES = ["<f8", "|b1", "<i4", ">f4", "f4", "<f4,<f4", "(2,)<f4", "|V4", "O", "<U1", ",".join(["<f4"] * 500)]


def edit_header(header: dict, rng) -> None:
    """One structural edit of a well-formed header, in place."""
    specs = header["fields"]
    i = int(rng.integers(len(specs)))
    what = int(rng.integers(11))
    if what == 0:
        header[str(rng.choice(["slot", "version"]))] = ODD_VALUES[rng.integers(len(ODD_VALUES))]
    elif what == 1:
        specs[i][0] = str(rng.choice([s[0] for s in specs] + ["x", "", "obs", FRAMES, INDEX]))
    elif what == 2:
        specs[i][1] = (ODD_DTYPES + ODD_VALUES)[rng.integers(len(ODD_DTYPES) + len(ODD_VALUES))]
    elif what == 3 and specs[i][2]:
        j = int(rng.integers(len(specs[i][2])))
        specs[i][2][j] = [specs[i][2][j] + 1, specs[i][2][j] - 1, 0, *ODD_VALUES][rng.integers(3 + len(ODD_VALUES))]
    elif what == 4:
        specs[i][2] = specs[i][2] + [1] if rng.random() < 0.5 else specs[i][2][1:]
    elif what == 5:
        del specs[i]
    elif what == 6:
        specs.append(list(specs[i]))
    elif what == 7:
        j = int(rng.integers(len(specs)))
        specs[i], specs[j] = specs[j], specs[i]  # bytes no longer where the header says: still a layout
    elif what == 8:
        header[str(rng.choice(["more", "slot", "fields"]))] = 0
    elif what == 9:
        specs[i] = specs[i][:2] if rng.random() < 0.5 else [*specs[i], 0]
    else:
        del header[str(rng.choice(["slot", "version", "fields"]))]


def mutated_message(fields, rng) -> bytes:
    msg = valid_message(fields, rng)
    kind = int(rng.integers(8))
    if kind == 0:  # bytes flipped anywhere
        buf = bytearray(msg)
        for at in rng.integers(0, len(buf), size=int(rng.integers(1, 9))):
            buf[at] = int(rng.integers(256))
        return bytes(buf)
    if kind == 1:  # bytes flipped in the arrays only: a layout the schema allows, with any values
        header, body = split(msg)
        buf = bytearray(body)
        for at in rng.integers(0, len(buf), size=int(rng.integers(1, 5))):
            buf[at] = int(rng.integers(256))
        return join(header, bytes(buf))
    if kind == 2:
        return msg[: int(rng.integers(0, len(msg)))]
    if kind == 3:
        return msg + rng.bytes(int(rng.integers(1, 64)))
    if kind == 4:  # random bytes, under a random header length
        return PUT + struct.pack("<I", int(rng.integers(0, 1 << 13))) + rng.bytes(int(rng.integers(0, 600)))
    if kind == 5:
        header, body = split(msg)
        edit_header(header, rng)
        return join(header, body)
    if kind == 6:  # another message's header over this one's arrays
        return join(split(valid_message(fields, rng))[0], split(msg)[1])
    return msg[:1] + struct.pack("<I", int(rng.integers(0, 1 << 32))) + msg[5:]


def judge(msg: bytes, fields, layouts) -> str:
    """'refused', 'dropped' (decoded, then failed the learner's checks) or 'accepted'; raises on anything else."""
    try:
        slot, version, arrays = decode_unroll(msg, layouts)
    except ProtocolError:
        return "refused"
    assert type(slot) is int and type(version) is int
    (n,) = struct.unpack_from("<I", msg, 1)
    layout = next(lay for lay in layouts if set(lay) == set(arrays))  # exactly one layout's names
    for name, arr in arrays.items():
        dims, dtype = layout[name]
        assert arr.dtype == dtype and arr.ndim == len(dims) and all(d in r for d, r in zip(arr.shape, dims)), name
        assert not arr.flags.writeable
    assert 5 + n + sum(a.nbytes for a in arrays.values()) == len(msg)
    arrays = dict(arrays)
    if FRAMES in arrays:
        shape, dtype = fields["obs"]
        try:
            arrays["obs"] = unpack_stacks(arrays.pop(FRAMES), arrays.pop(INDEX), shape, dtype)
        except ValueError:
            return "dropped"
    reason = validate_unroll(arrays, fields, NUM_ACTIONS, UnrollBounds())
    if reason is not None:
        assert type(reason) is str
        return "dropped"
    assert all(a.view(np.uint8).max() <= 1 for a in arrays.values() if a.dtype.kind == "b" and a.size)
    assert all(np.isfinite(a).all() for k, a in arrays.items() if a.dtype.kind == "f" and k not in MAY_BE_NAN)
    return "accepted"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_unroll_message_decodes_to_the_schema_or_is_refused(schema):
    fields = SCHEMAS[schema]
    layouts = unroll_layouts(fields)
    rng = np.random.default_rng(40)
    seen = {"refused": 0, "dropped": 0, "accepted": 0}
    for case in range(3000):
        msg = mutated_message(fields, rng) if case % 10 else valid_message(fields, rng)
        try:
            verdict = judge(msg, fields, layouts)
        except Exception as exc:
            raise AssertionError(f"case {case}: {type(exc).__name__}: {exc} on {msg[:300]!r}") from exc
        assert case % 10 or verdict == "accepted", f"case {case}: a valid unroll was {verdict}"
        seen[verdict] += 1
    assert min(seen.values()) >= 100, seen  # every outcome is exercised


# ------------------------------------------------------------------ the handshake


def _socketpair():
    learner, peer = socket.socketpair()
    set_recv_timeout(peer, 10.0)  # the test's side never waits forever, whatever the learner's side does
    return learner, Connection(os.dup(learner.fileno())), peer, Connection(os.dup(peer.fileno()))


def _mutated(data: bytes, rng) -> bytes:
    kind = int(rng.integers(5))
    if kind == 0:
        buf = bytearray(data)
        for at in rng.integers(0, len(buf), size=int(rng.integers(1, 4))):
            buf[at] = int(rng.integers(256))
        return bytes(buf)
    if kind == 1:
        return data[: int(rng.integers(0, len(data)))]
    if kind == 2:
        return data + rng.bytes(int(rng.integers(1, 300)))
    if kind == 3:
        return rng.bytes(int(rng.integers(0, 300)))
    return data


def _play_actor(peer: socket.socket, conn: Connection, rng) -> bool | None:
    """One actor's side of the handshake, correct or broken at a random step; True if it was all correct,
    None if that depends on the Python version (a nonce starting "{" names a digest from 3.12 on)."""
    kind = int(rng.integers(4))
    if kind == 0:  # anything at all, unframed
        peer.sendall(rng.bytes(int(rng.integers(0, 300))))
        return False
    if kind == 1:  # a framed answer of the wrong digest (or the wrong length)
        conn.send_bytes(rng.bytes(int(rng.integers(0, 300))) if rng.random() < 0.5 else rng.bytes(16))
        return False
    answer_challenge(conn, KEY)  # it holds the key ...
    challenge = CHALLENGE + rng.bytes(20)
    sent = _mutated(challenge, rng) if kind == 2 else challenge  # ... and sends its own challenge, or garbage
    if len(sent) > 256:
        peer.sendall(struct.pack("!i", len(sent)) + sent[:8])  # the learner refuses a length over 256 unread
        return False
    conn.send_bytes(sent)
    try:
        conn.recv_bytes(256)  # the learner's digest
    except (EOFError, OSError):
        return False
    last = WELCOME if rng.random() < 0.8 else _mutated(WELCOME, rng)
    conn.send_bytes(last)
    if not sent.startswith(CHALLENGE) or last != WELCOME:
        return False
    return None if sent[len(CHALLENGE) :].startswith(b"{") else True  # any other nonce will do


def _serve_handshake(sock: socket.socket, conn: Connection, raised: list) -> None:
    try:
        server_handshake(sock, conn, KEY)
    except BaseException as exc:  # judged by the test's thread
        raised.append(exc)
        sock.shutdown(socket.SHUT_RDWR)  # as the server closes a refused peer


def test_every_handshake_is_completed_or_refused_by_the_documented_exceptions():
    rng = np.random.default_rng(41)
    outcomes = {"authenticated": 0, "AuthenticationError": 0, "OSError": 0, "EOFError": 0}
    for case in range(1200):
        learner, learner_conn, peer, peer_conn = _socketpair()
        raised: list[BaseException] = []
        thread = threading.Thread(target=_serve_handshake, args=(learner, learner_conn, raised))
        thread.start()
        try:
            correct = _play_actor(peer, peer_conn, rng)
        except (EOFError, OSError):
            correct = False  # the learner closed on it: the learner's side says why
        finally:
            peer.shutdown(socket.SHUT_WR)  # the learner reads the end, never waits out its timeout
            thread.join(timeout=30)
        for s in (learner_conn, learner, peer_conn, peer):
            s.close()
        assert not thread.is_alive(), f"case {case}: the handshake hung"
        if raised:
            exc = raised[0]
            assert isinstance(exc, (AuthenticationError, OSError, EOFError)), f"case {case}: {exc!r}"
            assert correct is not True, f"case {case}: a correct actor was refused ({exc!r})"
            outcomes["OSError" if isinstance(exc, OSError) else type(exc).__name__] += 1
        else:
            assert correct is not False, f"case {case}: a broken handshake was accepted"
            outcomes["authenticated"] += 1
    assert outcomes["authenticated"] >= 100 and outcomes["AuthenticationError"] >= 100, outcomes
    assert outcomes["OSError"] + outcomes["EOFError"] >= 20, outcomes


def test_a_malformed_challenge_from_the_learner_is_a_protocol_error():
    """The actor's side: anything but a learner's challenge is ProtocolError (the actor reconnects later)."""
    rng = np.random.default_rng(42)
    for _ in range(200):
        learner, learner_conn, actor, actor_conn = _socketpair()
        sent = _mutated(CHALLENGE + rng.bytes(20), rng)
        if len(sent) <= 256 and not sent.startswith(CHALLENGE):
            learner_conn.send_bytes(sent)
            learner.shutdown(socket.SHUT_WR)
            with pytest.raises((ProtocolError, AuthenticationError, EOFError, OSError)):
                client_handshake(actor, actor_conn, KEY)
        for s in (learner_conn, learner, actor_conn, actor):
            s.close()
    # Python 3.11 raised AssertionError here: the actor process died with a traceback
    learner, learner_conn, actor, actor_conn = _socketpair()
    learner_conn.send_bytes(b"not a challenge")
    with pytest.raises(ProtocolError, match="challenge is malformed"):
        client_handshake(actor, actor_conn, KEY)
    for s in (learner_conn, learner, actor_conn, actor):
        s.close()
