import time

import numpy as np
import pytest

from common.process import context, spawn
from common.transport import ExperienceQueue, WeightBoard, unroll_fields, validate_unroll

FIELDS = unroll_fields((4,), "float32", 2, T=3, E=2)


def _wait_for(pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_bounded_queue_blocks_producer_when_full():
    ctx = context()
    q = ExperienceQueue(ctx, FIELDS, num_actors=1, slots=2)
    counter = ctx.Value("i", 0)
    proc = spawn("transport_helpers:producer", (q.actor_end(0), counter, 5))
    try:
        assert _wait_for(lambda: counter.value == 2), "producer never filled the queue"
        time.sleep(1.0)
        assert counter.value == 2, "producer went past the queue's capacity"
        assert q.fill() == 2 and q.capacity == 2
        seen = []
        while len(seen) < 5:
            got = q.get(timeout=30.0)
            assert got is not None, "producer stopped producing after slots were released"
            actor_id, generation, slot, version, views = got
            assert np.all(views["rewards"] == version)  # the slot holds what was written for that note
            seen.append(version)
            q.release(actor_id, generation, slot)
        assert seen == [0, 1, 2, 3, 4]
        proc.join(timeout=30)
        assert proc.exitcode == 0
    finally:
        proc.kill()
        q.close()


def test_get_times_out_when_empty():
    q = ExperienceQueue(context(), FIELDS, num_actors=1, slots=1)
    q.actor_end(0)
    t0 = time.monotonic()
    assert q.get(timeout=0.3) is None
    assert time.monotonic() - t0 >= 0.25
    q.close()


def test_restarted_actor_gets_fresh_channel_and_stale_notes_are_dropped():
    q = ExperienceQueue(context(), FIELDS, num_actors=1, slots=2)
    old = q.actor_end(0)
    slot = old.acquire(0.1)
    old.put(slot, 7)
    new = q.actor_end(0)  # restart: the note of the old process is gone
    assert q.get(timeout=0.2) is None
    assert q.fill() == 0
    s = new.acquire(0.1)
    new.put(s, 9)
    got = q.get(timeout=1.0)
    assert got is not None and got[3] == 9
    q.close()


def test_weight_board_versions():
    ctx = context()
    shapes = [(3, 2), (2,)]
    board = WeightBoard(ctx, shapes)
    assert board.version == -1
    assert board.fetch(-1) is None  # nothing published yet
    w0 = [np.ones((3, 2), np.float32), np.full(2, 2.0, np.float32)]
    board.publish(0, w0)
    version, arrays = board.fetch(-1)
    assert version == 0 and [a.shape for a in arrays] == shapes
    np.testing.assert_array_equal(arrays[1], w0[1])
    assert board.fetch(0) is None  # same version: nothing new
    board.publish(5, [a * 3 for a in w0])
    version, arrays = board.fetch(0)
    assert version == 5 and float(arrays[0].sum()) == 18.0
    assert board.fetch(5) is None


def test_weight_board_across_processes():
    ctx = context()
    board = WeightBoard(ctx, [(4,)])
    out = ctx.Queue()
    proc = spawn("transport_helpers:board_reader", (board, 0, out))
    time.sleep(0.5)
    board.publish(0, [np.zeros(4, np.float32)])  # not newer than what the reader has
    time.sleep(0.5)
    board.publish(3, [np.arange(4, dtype=np.float32)])
    got = out.get(timeout=60)
    proc.join(timeout=30)
    assert got == (3, [6.0])


def test_weight_board_reader_never_sees_a_torn_write():
    ctx = context()
    board = WeightBoard(ctx, [(1024, 1024), (1000,)])  # 4 MB: a copy takes about a millisecond
    proc = spawn("transport_helpers:board_writer", (board, 500))
    seen, have = 0, -1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (proc.is_alive() or board.version > have):
        got = board.fetch(have)
        if got is None:
            continue
        have, arrays = got
        for a in arrays:  # a torn copy would mix two versions
            assert a.min() == a.max() == have
        seen += 1
    proc.join(timeout=30)
    assert have == 500 and seen > 10


def test_validate_unroll():
    good = {k: np.zeros(shape, dtype) for k, (shape, dtype) in FIELDS.items()}
    good["episode_return"][:] = np.nan  # no game ended
    assert validate_unroll(good, FIELDS, 2) is None
    bad = dict(good, actions=np.full((3, 2), 2, np.int32))
    assert "actions out of range" in validate_unroll(bad, FIELDS, 2)
    bad = dict(good, rewards=np.full((3, 2), np.nan, np.float32))
    assert "non-finite" in validate_unroll(bad, FIELDS, 2)
    bad = dict(good, obs=np.zeros((4, 2, 4), np.float64))
    assert "obs" in validate_unroll(bad, FIELDS, 2)


def test_channels_in_use_set_the_capacity():
    q = ExperienceQueue(context(), FIELDS, num_actors=3, slots=2)  # e.g. one local actor + two remote channels
    assert q.capacity == 0
    end = q.actor_end(1)
    q.actor_end(2)
    assert q.capacity == 4
    end.put(end.acquire(0.1), 0)
    assert q.fill() == 1
    q.close_channel(1)  # its remote actor disconnected: its queued unroll goes with it
    assert q.capacity == 2 and q.fill() == 0 and q.get(timeout=0.2) is None
    q.close()


def _plausible():
    u = {k: np.zeros(shape, dtype) for k, (shape, dtype) in FIELDS.items()}
    u["episode_return"][:] = np.nan
    u["episode_return"][1, 0], u["episode_length"][1, 0] = 21.0, 300  # one game ended
    return u


@pytest.mark.parametrize(
    "field,index,value,message",
    [
        ("rewards", (0, 0), 3e38, "rewards beyond"),
        ("rewards", (0, 0), 1000.0, "rewards beyond"),  # clipped: at most 1 + 10 gamma / (1 - gamma)
        ("obs", (0, 0, 0), 3e38, "obs beyond"),
        ("behaviour_logits", (0, 0, 0), -3e38, "behaviour_logits beyond"),
        ("episode_return", (1, 0), np.inf, "episode_return beyond"),
        ("episode_return", (1, 0), 1e12, "episode_return beyond"),
        ("episode_length", (1, 0), -5, "episode_length outside"),
        ("episode_length", (1, 0), 0, "episode_length outside"),
        ("episode_length", (1, 0), 501, "episode_length outside 1..500"),
        ("episode_length", (0, 0), -1, "episode_length outside"),
    ],
)
def test_implausible_values_are_refused(field, index, value, message):
    from common.transport.schema import UnrollBounds

    bounds = UnrollBounds.for_run(clip_rewards=True, gamma=0.99, episode_steps=500)
    assert bounds.reward == pytest.approx(991.0)
    good = _plausible()
    assert validate_unroll(good, FIELDS, 2, bounds) is None
    good["rewards"][2, 1] = 150.0  # a cut game's last reward carries gamma V, an estimate: still plausible
    assert validate_unroll(good, FIELDS, 2, bounds) is None
    bad = _plausible()
    bad[field][index] = value
    assert message in validate_unroll(bad, FIELDS, 2, bounds)


def test_lstm_state_and_epsilon_are_bounded():
    from common.transport.schema import UnrollBounds

    fields = unroll_fields((4,), "float32", 2, T=3, E=2, algorithm="q_nstep", core_size=4)
    u = {k: np.zeros(shape, dtype) for k, (shape, dtype) in fields.items()}
    u["episode_return"][:] = np.nan
    assert validate_unroll(u, fields, 2, UnrollBounds()) is None
    for name, value, message in (("core_h", 2.0, "core_h beyond"), ("core_c", 3e38, "core_c"), ("epsilon", 1.5, "eps")):
        bad = {k: v.copy() for k, v in u.items()}
        bad[name].flat[0] = value
        assert message in validate_unroll(bad, fields, 2, UnrollBounds())


@pytest.mark.parametrize(
    "header",
    [
        b"[" * 100_000 + b"]" * 100_000,  # nested past Python's recursion limit
        b'{"slot": 0, "version": 0, "fields": [["obs", "<f4", [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]]}',  # too many axes
        b'{"slot": 0, "version": 0, "fields": [["obs", "<f4", [' + b", ".join([b"1"] * 70) + b"]]]}",
        b'{"slot": 0, "version": 0, "fields": [["obs", {"a": 1}, [1]]]}',
        b'{"slot": 0, "version": 0, "fields": [["obs", "<f4", [0, 18446744073709551616]]]}',  # 0 bytes, no array
        b'{"slot": 0, "version": 0, "fields": [["obs", "(2,)<f4", [4, 2, 2]]]}',  # a subarray: not a plain type
        b'{"slot": 0, "version": 0, "fields": [], "more": 1}',
        b'{"slot": true, "version": 0, "fields": []}',
        b"\xff\xfe\x00",  # not UTF-8
    ],
)
def test_hostile_unroll_headers_are_a_protocol_error(header):
    import struct

    from common.transport.wire import PUT, ProtocolError, decode_unroll, unroll_layouts

    msg = PUT + struct.pack("<I", len(header)) + header + bytes(64)
    with pytest.raises(ProtocolError):
        decode_unroll(msg, unroll_layouts(FIELDS))


def test_a_header_over_its_cap_is_refused_unread(monkeypatch):
    import json
    import struct

    from common.transport import wire

    monkeypatch.setattr(wire.json, "loads", lambda *a: pytest.fail("parsed a header over MAX_HEADER_BYTES"))
    header = json.dumps({"slot": 0, "version": 0, "fields": [["obs", ",".join(["<f4"] * 2000), [0]]]}).encode()
    assert len(header) > wire.MAX_HEADER_BYTES
    with pytest.raises(wire.ProtocolError, match="header of"):
        wire.decode_unroll(wire.PUT + struct.pack("<I", len(header)) + header, wire.unroll_layouts(FIELDS))


def test_a_good_unroll_decodes_to_the_schema_in_either_layout():
    from test_frames import stacks_of_a_stream

    from common.transport.frames import pack_stacks
    from common.transport.wire import decode_unroll, encode_unroll, max_unroll_message, unroll_layouts

    fields = unroll_fields((4, 6, 6), "uint8", 2, T=5, E=2)
    u = {k: np.zeros(shape, dtype) for k, (shape, dtype) in fields.items()}
    u["obs"] = stacks_of_a_stream(steps=6, envs=2, k=4, resets={(3, 1)})
    layouts = unroll_layouts(fields)
    assert decode_unroll(encode_unroll(1, 2, u), layouts)[:2] == (1, 2)
    packed = {k: v for k, v in u.items() if k != "obs"}
    packed["obs_frames"], packed["obs_index"] = pack_stacks(u["obs"])
    msg = encode_unroll(0, 0, packed)
    slot, version, arrays = decode_unroll(msg, layouts)
    assert set(arrays) == set(packed) and all(np.array_equal(arrays[k], packed[k]) for k in packed)
    every_frame = dict(packed, obs_frames=np.zeros((6 * 2 * 4, 6, 6), np.uint8))  # the most frames there are
    assert len(encode_unroll(0, 0, every_frame)) <= max_unroll_message(layouts)


def test_booleans_are_bytes_0_or_1():
    """Local shared memory and the wire both hand the learner raw bool bytes; 2 would be a discount of -gamma."""
    good = _plausible()
    assert validate_unroll(good, FIELDS, 2) is None
    for byte in (2, 255):
        bad = _plausible()
        bad["dones"].view(np.uint8)[2, 1] = byte
        assert "dones: bool bytes other than 0 and 1" in validate_unroll(bad, FIELDS, 2)


def test_the_authkey_comes_from_the_environment_or_a_secret_file(tmp_path, monkeypatch):
    from common.config import ConfigError
    from common.transport.wire import authkey_from_env

    monkeypatch.delenv("ASYNCRL_AUTHKEY", raising=False)
    monkeypatch.delenv("ASYNCRL_AUTHKEY_FILE", raising=False)
    with pytest.raises(ConfigError, match="set ASYNCRL_AUTHKEY in the environment, or ASYNCRL_AUTHKEY_FILE"):
        authkey_from_env()
    secret = tmp_path / "asyncrl_authkey"
    secret.write_bytes(b"0123abcd\n")  # as `openssl rand -hex 16 | docker secret create` stores it
    monkeypatch.setenv("ASYNCRL_AUTHKEY_FILE", str(secret))
    assert authkey_from_env() == b"0123abcd"
    monkeypatch.setenv("ASYNCRL_AUTHKEY", "from-env")
    assert authkey_from_env() == b"from-env"  # the variable wins
    monkeypatch.delenv("ASYNCRL_AUTHKEY")
    # docker-compose sets the variable to the swarm secret's path, which it does not mount: say both
    monkeypatch.setenv("ASYNCRL_AUTHKEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"set ASYNCRL_AUTHKEY in .*'\S+/missing', which does not exist"):
        authkey_from_env()
    (tmp_path / "empty").write_bytes(b"\n")
    for bad in (tmp_path / "empty", tmp_path):  # an empty secret; a folder
        monkeypatch.setenv("ASYNCRL_AUTHKEY_FILE", str(bad))
        with pytest.raises(ConfigError, match=r"^ASYNCRL_AUTHKEY_FILE: "):
            authkey_from_env()
