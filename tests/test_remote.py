"""The remote transport on loopback: authkey, malformed unrolls, reconnects, the command lines."""

import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing import AuthenticationError

import numpy as np
import pytest
from proc_utils import ROOT, finish, metric_rows, start_learner, wait_for

from common import config as config_lib
from common.process import context
from common.transport import ExperienceQueue, WeightBoard, unroll_fields
from common.transport.client import LearnerLost, LearnerRefused, RemoteBoard, RemoteEnd, connect
from common.transport.server import RemoteServer
from common.transport.wire import encode_unroll

FIELDS = unroll_fields((4,), "float32", 2, T=3, E=2)
KEY = b"test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smoke_cfg(port, **overrides):
    return config_lib.load(
        os.path.join(ROOT, "configs/smoke_cartpole.yaml"),
        {"remote.enabled": True, "remote.port": port, "actor.count": 0, **overrides},
    )


def serve(cfg, fields=FIELDS, shapes=((3, 2),), num_actions=2, weights=None):
    """A started RemoteServer over a fresh queue and board (version 0 published), as the learner sets it up."""
    ctx = context()
    q = ExperienceQueue(ctx, fields, cfg.remote.max_actors, cfg.actor.queue_slots)
    board = WeightBoard(ctx, list(shapes))
    board.publish(0, weights if weights is not None else [np.full(s, 0.5, np.float32) for s in shapes])
    server = RemoteServer(cfg, q, board, num_actions, first_channel=0, authkey=KEY)
    server.start()
    return server, q, board


def start_remote_learner(tmp_path, port, monkeypatch, *more, actors=1):
    """`python -m learner` on the smoke config: `actors` local actors, remote actors welcome on `port`."""
    monkeypatch.setenv("ASYNCRL_AUTHKEY", KEY.decode())
    return start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--actors",
        str(actors),
        "--total-frames",
        "5000000",
        "--set",
        "remote.enabled=true",
        "--set",
        f"remote.port={port}",
        *more,
        run_dir=tmp_path,
    )


def start_remote_actor(port):
    """`python -m actor` connecting to the learner on `port`, in its own session."""
    return subprocess.Popen(
        [sys.executable, "-m", "actor", "--learner", f"127.0.0.1:{port}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_all(learner, actor):
    """SIGTERM to whichever of the two still runs (and its children), then wait for the actor."""
    for p in (learner, actor):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    actor.wait(timeout=30)


def good_unroll():
    u = {k: np.zeros(shape, dtype) for k, (shape, dtype) in FIELDS.items()}
    u["episode_return"][:] = np.nan
    u["rewards"][:] = 1.5
    return u


def test_wrong_authkey_is_refused_and_logged(capsys):
    port = free_port()
    server, q, _ = serve(smoke_cfg(port))
    try:
        with pytest.raises(AuthenticationError):
            connect("127.0.0.1", port, b"not-the-secret")
        assert wait_for(lambda: server.refused == 1, 10)
        link = connect("127.0.0.1", port, KEY)  # the right key still gets in afterwards
        assert link.actor_id == 0 and link.fields == FIELDS
        assert wait_for(lambda: server.connected() == 1, 10)
        link.close()
        assert wait_for(lambda: server.connected() == 0, 10)
    finally:
        server.stop()
        q.close()
    assert "refused a remote actor from 127.0.0.1" in capsys.readouterr().out


def test_implausible_unrolls_are_dropped_and_counted_and_the_actor_goes_on(capsys):
    """Unrolls laid out as the schema says, of values never to train on: dropped, the slot handed back."""
    port = free_port()
    server, q, _ = serve(smoke_cfg(port, **{"actor.queue_slots": 1}))
    link = connect("127.0.0.1", port, KEY)
    end, board = RemoteEnd(link), RemoteBoard(link)
    try:
        version, arrays = board.fetch(-1)
        assert version == 0 and arrays[0].shape == (3, 2) and float(arrays[0][0, 0]) == 0.5
        assert board.fetch(0) is None  # nothing newer yet
        good = good_unroll()
        bad = [
            dict(good, rewards=np.full((3, 2), np.nan, np.float32)),  # NaN
            dict(good, actions=np.full((3, 2), 7, np.int32)),  # action out of range
        ]
        for i, unroll in enumerate(bad):
            slot = end.acquire(timeout=10)
            assert slot == 0, f"slot of bad unroll {i - 1} was not handed back"
            link.send(encode_unroll(slot, 0, unroll))
        slot = end.acquire(timeout=10)
        link.send(encode_unroll(slot, 5, good))  # a policy version the learner never published
        slot = end.acquire(timeout=10)
        assert slot == 0 and server.dropped == len(bad) + 1
        assert q.get(timeout=0.3) is None  # none of them reached the queue

        for k, v in good.items():  # a good unroll, written the way run_actor writes it
            end.views()[k][slot] = v
        end.put(slot, 0)
        got = q.get(timeout=10)
        assert got is not None
        actor_id, generation, qslot, version, views = got
        assert actor_id == 0 and version == 0 and np.all(views["rewards"] == 1.5)
        assert end.acquire(timeout=0.3) is None  # one slot, and the learner still holds it: the bound
        q.release(actor_id, generation, qslot)
        assert end.acquire(timeout=10) == 0
    finally:
        link.close()
        server.stop()
        q.close()
    out = capsys.readouterr().out
    assert "dropped an unroll from remote actor 0" in out and "non-finite values in rewards" in out


def _put(header: dict, body: bytes = b"") -> bytes:
    """A PUT frame with any header (encode_unroll writes only well-formed ones)."""
    import json
    import struct

    from common.transport.wire import PUT

    raw = json.dumps(header).encode()
    return PUT + struct.pack("<I", len(raw)) + raw + body


_GOOD = good_unroll()
NOT_THE_SCHEMA = {
    "wrong shape": encode_unroll(0, 0, dict(_GOOD, obs=np.zeros((4, 2, 5), np.float32))),
    "wrong dtype": encode_unroll(0, 0, dict(_GOOD, rewards=_GOOD["rewards"].astype(np.float64))),
    "same size, wrong dtype": encode_unroll(0, 0, dict(_GOOD, actions=_GOOD["actions"].astype(np.float32))),
    "a field missing": encode_unroll(0, 0, {k: v for k, v in _GOOD.items() if k != "dones"}),
    "an unknown field": encode_unroll(0, 0, dict(_GOOD, extra=np.zeros(2, np.float32))),
    "no axis this long": _put({"slot": 0, "version": 0, "fields": [["obs", "<f4", [0, 2**64]]]}),  # 0 bytes
    "an array too big": _put({"slot": 0, "version": 0, "fields": [["obs", "<f4", [0, 2**40, 2**40]]]}),
    "a dtype that is not a type string": _put(
        {"slot": 0, "version": 0, "fields": [["obs", {"names": ["a"], "formats": ["<f4"], "offsets": [10**30]}, [1]]]},
        b"\0" * 4,
    ),
    "one field twice": _put({"slot": 0, "version": 0, "fields": [["obs", "<f4", [4, 2, 4]]] * 2}, b"\0" * 256),
    "a byte too many": encode_unroll(0, 0, _GOOD) + b"\0",
}


@pytest.mark.parametrize("msg", NOT_THE_SCHEMA.values(), ids=NOT_THE_SCHEMA.keys())
def test_unrolls_not_laid_out_as_the_schema_close_the_connection_with_one_line(capsys, msg):
    port = free_port()
    server, q, _ = serve(smoke_cfg(port))
    link = connect("127.0.0.1", port, KEY)
    try:
        link.conn.send_bytes(msg)
        assert wait_for(lambda: server.dropped == 1 and server.connected() == 0, 10), "not dropped, or still open"
        assert q.get(timeout=0.3) is None
    finally:
        link.close()
        server.stop()
        q.close()
    closed = [line for line in capsys.readouterr().out.splitlines() if "closed remote actor 0" in line]
    assert len(closed) == 1, closed


def test_oversized_message_disconnects_that_actor_only():
    port = free_port()
    server, q, _ = serve(smoke_cfg(port))
    rogue, fine = connect("127.0.0.1", port, KEY), connect("127.0.0.1", port, KEY)
    try:
        rogue.send(encode_unroll(0, 0, {"obs": np.zeros(server.max_message, np.uint8)}))
        assert wait_for(lambda: server.dropped == 1, 10)
        with pytest.raises(LearnerLost):
            RemoteBoard(rogue).fetch(-1)
        assert RemoteBoard(fine).fetch(-1)[0] == 0  # the other actor is still served
    finally:
        rogue.close()
        fine.close()
        server.stop()
        q.close()


def test_a_peer_that_stops_mid_message_loses_its_channel(monkeypatch):
    """After the handshake, a length prefix and then silence: cut off at the message deadline, channel freed."""
    import struct

    from common.transport import server as server_module

    monkeypatch.setattr(server_module, "MESSAGE_TIMEOUT_S", 1.0)
    port = free_port()
    server, q, _ = serve(smoke_cfg(port, **{"remote.max_actors": 1}))
    stalled = connect("127.0.0.1", port, KEY)
    try:
        stalled.sock.sendall(struct.pack("!i", 1000) + b"P" * 10)  # 10 of the 1,000 bytes it announced
        assert wait_for(lambda: server.dropped == 1 and server.connected() == 0, 10)
        with pytest.raises(LearnerLost):
            RemoteBoard(stalled).fetch(-1)
        fresh = connect("127.0.0.1", port, KEY)  # the only channel is free again
        try:
            assert RemoteBoard(fresh).fetch(-1)[0] == 0
        finally:
            fresh.close()
    finally:
        stalled.close()
        server.stop()
        q.close()


def _real_server(port):
    """A RemoteServer laid out for configs/smoke_cartpole.yaml's real model, as train() builds it."""
    from common.env import probe_spec
    from common.model import build_model, model_variables

    cfg = smoke_cfg(port)
    spec = probe_spec(cfg.env)
    model = build_model(spec, cfg.model, seed=cfg.seed, algorithm=cfg.algorithm)
    variables = model_variables(model)
    fields = unroll_fields(
        spec.obs_shape, spec.obs_dtype, spec.num_actions, cfg.actor.unroll_length, cfg.env.num_envs, cfg.algorithm
    )
    return serve(
        cfg, fields, [tuple(v.shape) for v in variables], spec.num_actions, [np.asarray(v.value) for v in variables]
    )


def test_remote_actor_waits_for_the_learner_reconnects_after_a_restart_and_stops_on_sigterm():
    port = free_port()
    env = dict(os.environ, ASYNCRL_AUTHKEY=KEY.decode(), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "actor", "--learner", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)  # the actor starts before any learner listens
        for restart in range(2):
            server, q, _ = _real_server(port)
            try:
                got = q.get(timeout=120)
                assert got is not None, f"no unroll from the remote actor (learner incarnation {restart})"
                assert got[0] == 0 and np.isfinite(got[4]["rewards"]).all()
            finally:
                server.stop()  # a learner going away: the actor must come back to the next one
                q.close()
        proc.send_signal(signal.SIGTERM)
        rc, out = finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert rc == 0, out
    assert "waiting for the learner" in out and "reconnecting" in out and "Traceback" not in out


def test_learner_and_actor_refuse_to_start_without_an_authkey(tmp_path, monkeypatch):
    monkeypatch.delenv("ASYNCRL_AUTHKEY", raising=False)
    proc = start_learner("--config", "configs/smoke_cartpole.yaml", "--set", "remote.enabled=true", run_dir=tmp_path)
    rc, out = finish(proc, timeout=60)
    assert rc == 2 and out.strip().startswith("error: remote actors need a shared secret: set ASYNCRL_AUTHKEY")
    assert len(out.strip().splitlines()) == 1 and not (tmp_path / "smoke_cartpole").exists()
    for args in (["--learner", "learner:7777"], ["--learner", "no-port"]):
        run = subprocess.run(
            [sys.executable, "-m", "actor", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=dict(os.environ, ASYNCRL_AUTHKEY="k") if args[1] == "no-port" else None,
            timeout=60,
        )
        assert run.returncode == 2 and run.stderr.count("\n") == 1 and run.stderr.startswith("error: "), run.stderr


def test_local_and_remote_actors_train_together(tmp_path, monkeypatch):
    port = free_port()
    learner = start_remote_learner(tmp_path, port, monkeypatch)
    actor = start_remote_actor(port)
    csv_path = tmp_path / "smoke_cartpole" / "metrics.csv"
    try:
        ok = wait_for(
            lambda: any(
                r["learner/remote_actors"] == "1" and r["learner/actors_alive"] == "2" and float(r["charts/frames"]) > 0
                for r in metric_rows(csv_path)
            ),
            120,
            learner,
        )
        if ok:  # a wrong key and a NaN unroll while it trains: refused, dropped, and training goes on
            with pytest.raises(AuthenticationError):
                connect("127.0.0.1", port, b"wrong")
            rogue = connect("127.0.0.1", port, KEY)
            end = RemoteEnd(rogue)
            slot = end.acquire(timeout=10)
            end.views()["rewards"][slot] = np.nan
            end.put(slot, 0)
            frames_then = float(metric_rows(csv_path)[-1]["charts/frames"])
            ok = wait_for(
                lambda: (
                    (r := metric_rows(csv_path)[-1])["learner/remote_refused"] == "1"
                    and r["learner/remote_dropped_unrolls"] == "1"
                    and float(r["charts/frames"]) > frames_then
                ),
                60,
                learner,
            )
            rogue.close()
        learner.send_signal(signal.SIGTERM)
        rc, out = finish(learner, timeout=90)
    finally:
        stop_all(learner, actor)
    assert ok, out
    assert rc == 0 and "remote actor 1 connected" in out and "| actors 2 |" in out, out
    assert "wrong authkey" in out and "non-finite values in rewards" in out


def test_appo_trains_on_remote_actors_alone(tmp_path, monkeypatch):
    """APPO's unrolls (the actor's logits for V-trace, several optimizer steps a batch) travel like the others'."""
    port = free_port()
    appo = ("algorithm=appo", "learner.optimizer=adam", "learner.epochs=2", "learner.minibatches=2")
    learner = start_remote_learner(tmp_path, port, monkeypatch, *[a for s in appo for a in ("--set", s)], actors=0)
    actor = start_remote_actor(port)
    csv_path = tmp_path / "smoke_cartpole" / "metrics.csv"
    try:
        ok = wait_for(
            lambda: any(
                r["learner/remote_actors"] == "1" and float(r["charts/frames"]) >= 2_000 and r.get("appo/clip_fraction")
                for r in metric_rows(csv_path)
            ),
            120,
            learner,
        )
        learner.send_signal(signal.SIGTERM)
        rc, out = finish(learner, timeout=90)
    finally:
        stop_all(learner, actor)
    assert ok, out
    assert rc == 0 and "0 actors x 4 envs" in out and "remote actor 0 connected" in out, out  # no local actor
    rows = metric_rows(csv_path)
    fractions = [float(r["appo/clip_fraction"]) for r in rows if r.get("appo/clip_fraction")]
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions)


def _fuzzed_messages(rng, n):
    """PUT frames: random bytes, and good unrolls with bytes flipped, cut short, lengthened or forged."""
    from common.transport.wire import PUT

    good = encode_unroll(0, 0, good_unroll())
    for i in range(n):
        kind = i % 5
        if kind == 0:
            yield PUT + rng.bytes(int(rng.integers(1, 400)))
        elif kind == 1:
            msg = bytearray(good)
            for at in rng.integers(1, len(msg), size=8):
                msg[at] = int(rng.integers(0, 256))
            yield bytes(msg)
        elif kind == 2:
            yield good[: int(rng.integers(1, len(good)))]
        elif kind == 3:
            yield good + rng.bytes(16)
        else:  # a good unroll of absurd values
            u = good_unroll()
            u["rewards"][:] = 3e38
            u["episode_return"][0, 0], u["episode_length"][0, 0] = np.inf, -7
            yield encode_unroll(0, 0, u)


def test_fuzzed_frames_from_an_authenticated_peer_never_stop_training(tmp_path, monkeypatch):
    port = free_port()
    learner = start_remote_learner(tmp_path, port, monkeypatch)
    csv_path = tmp_path / "smoke_cartpole" / "metrics.csv"
    try:
        assert wait_for(lambda: any(float(r["charts/frames"]) > 0 for r in metric_rows(csv_path)), 120, learner)
        rng = np.random.default_rng(0)
        sent = 0
        for msg in _fuzzed_messages(rng, 200):
            try:
                link = connect("127.0.0.1", port, KEY)  # one connection per frame: a broken one is closed
            except LearnerRefused:  # every channel still held by connections the learner has not closed yet
                time.sleep(0.2)
                continue
            try:
                link.conn.send_bytes(msg)
                sent += 1
                time.sleep(0.01)
            except OSError:
                pass
            finally:
                link.close()
        frames_then = float(metric_rows(csv_path)[-1]["charts/frames"])
        assert wait_for(lambda: float(metric_rows(csv_path)[-1]["charts/frames"]) > frames_then + 1000, 60, learner)
        assert float(metric_rows(csv_path)[-1]["learner/remote_dropped_unrolls"]) >= 100
        assert learner.poll() is None, "the learner died"
        link = connect("127.0.0.1", port, KEY)  # and it still lets an actor in
        link.close()
        learner.send_signal(signal.SIGTERM)
        rc, out = finish(learner, timeout=90)
    finally:
        if learner.poll() is None:
            os.killpg(learner.pid, signal.SIGKILL)
    assert rc == 0, out
    assert "Traceback" not in out and sent >= 100


def test_silent_connections_cannot_lock_actors_out(tmp_path, monkeypatch):
    """400 connections that never authenticate, at a learner allowed 256 descriptors: a real actor still joins."""
    port = free_port()
    monkeypatch.setenv("ASYNCRL_AUTHKEY", KEY.decode())
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = ["--config", "configs/smoke_cartpole.yaml", "--actors", "1", "--total-frames", "5000000"]
    args += ["--set", "remote.enabled=true", "--set", f"remote.port={port}", "--run-dir", str(tmp_path)]
    learner = subprocess.Popen(  # `ulimit` in a shell, not preexec_fn: no Python runs between fork and exec
        ["bash", "-c", 'ulimit -n 256 && exec "$@"', "bash", sys.executable, "-m", "learner", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    csv_path = tmp_path / "smoke_cartpole" / "metrics.csv"
    flood, actor = [], None
    try:
        assert wait_for(lambda: any(float(r["charts/frames"]) > 0 for r in metric_rows(csv_path)), 120, learner)
        for _ in range(400):
            try:
                flood.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                pass  # the backlog is full for a moment: the flood only gets stronger by trying again
        actor = start_remote_actor(port)
        joined = wait_for(lambda: metric_rows(csv_path)[-1].get("learner/remote_actors") == "1", 90, learner)
        frames_then = float(metric_rows(csv_path)[-1]["charts/frames"])
        assert joined and wait_for(lambda: float(metric_rows(csv_path)[-1]["charts/frames"]) > frames_then, 60, learner)
        learner.send_signal(signal.SIGTERM)
        rc, out = finish(learner, timeout=90)
    finally:
        for s in flood:
            s.close()
        for p in (learner, actor):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert rc == 0, out
    assert "Traceback" not in out


def test_pixel_stacks_travel_as_single_frames_and_arrive_whole(capsys):
    from test_frames import stacks_of_a_stream

    from common.transport.frames import pack_stacks

    fields = unroll_fields((4, 42, 42), "uint8", 2, T=5, E=2)
    port = free_port()
    server, q, _ = serve(smoke_cfg(port, **{"actor.queue_slots": 1}), fields=fields)
    link = connect("127.0.0.1", port, KEY)
    end = RemoteEnd(link)
    unroll = {k: np.zeros(shape, dtype) for k, (shape, dtype) in fields.items()}
    unroll["episode_return"][:] = np.nan
    unroll["obs"] = stacks_of_a_stream(steps=6, envs=2, k=4, resets={(3, 1)}, size=42)
    try:
        slot = end.acquire(timeout=10)
        for k, v in unroll.items():
            end.views()[k][slot] = v
        end.put(slot, 0)
        got = q.get(timeout=10)
        assert got is not None
        np.testing.assert_array_equal(got[4]["obs"], unroll["obs"])  # re-stacked exactly at the learner
        q.release(got[0], got[1], got[2])

        frames, index = pack_stacks(unroll["obs"])
        packed = {k: v for k, v in unroll.items() if k != "obs"}
        raw_bytes = len(encode_unroll(0, 0, unroll))
        assert len(encode_unroll(0, 0, dict(packed, obs_frames=frames, obs_index=index))) < raw_bytes / 2
        bad = dict(packed, obs_frames=frames, obs_index=index + len(frames))  # points past the frames sent
        slot = end.acquire(timeout=10)
        link.send(encode_unroll(slot, 0, bad))
        assert end.acquire(timeout=10) == slot and server.dropped == 1
        assert q.get(timeout=0.3) is None
    finally:
        link.close()
        server.stop()
        q.close()
    assert "frame index outside the" in capsys.readouterr().out


def test_garbage_for_the_actors_challenge_is_refused_with_one_line(capsys):
    """A peer that answers the learner's challenge (it holds the key), then sends garbage as its own."""
    from multiprocessing.connection import answer_challenge

    from common.transport.wire import wrap

    port = free_port()
    server, q, _ = serve(smoke_cfg(port))
    sock = socket.create_connection(("127.0.0.1", port))
    conn = wrap(sock)
    try:
        answer_challenge(conn, KEY)
        conn.send_bytes(b"not a challenge")
        assert wait_for(lambda: server.refused == 1, 10), "the handshake's failure was not counted"
        assert conn.poll(10) and not conn.recv_bytes(256).startswith(b"H")  # no hello: the learner closed
    except (EOFError, OSError):
        pass  # closed at once: as good
    finally:
        conn.close()
        sock.close()
        server.stop()
        q.close()
    assert server.refused == 1 and server.connected() == 0
    refused = [line for line in capsys.readouterr().out.splitlines() if "refused a remote actor" in line]
    assert len(refused) == 1 and "challenge" in refused[0], refused


def test_booleans_other_than_0_and_1_are_dropped(capsys):
    port = free_port()
    server, q, _ = serve(smoke_cfg(port, **{"actor.queue_slots": 1}))
    link = connect("127.0.0.1", port, KEY)
    end = RemoteEnd(link)
    try:
        for byte in (2, 255):
            bad = good_unroll()
            bad["dones"].view(np.uint8)[1, 0] = byte  # would train on a discount of gamma x (1 - byte)
            slot = end.acquire(timeout=10)
            assert slot == 0, "the slot of the last bad unroll was not handed back"
            link.send(encode_unroll(slot, 0, bad))
            assert wait_for(lambda n=byte: server.dropped == (1 if n == 2 else 2), 10)
        assert q.get(timeout=0.3) is None and server.connected() == 1
    finally:
        link.close()
        server.stop()
        q.close()
    assert "dones" in capsys.readouterr().out


def test_a_long_dtype_description_costs_the_learner_nothing_to_refuse():
    """A 48 KB header (under the message cap of pixel unrolls) of one dtype made of 12,000 types: refused
    without parsing it (it took 3.6 MB, and time to match, to find it was not a plain type)."""
    import tracemalloc

    port = free_port()
    server, q, _ = serve(smoke_cfg(port), fields=unroll_fields((4, 42, 42), "uint8", 2, T=5, E=2))
    link = connect("127.0.0.1", port, KEY)
    msg = _put({"slot": 0, "version": 0, "fields": [["obs", ",".join(["<f4"] * 12_000), [0]]]})
    assert len(msg) < server.max_message
    tracemalloc.start()
    try:
        link.conn.send_bytes(msg)
        assert wait_for(lambda: server.dropped == 1, 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        link.close()
        server.stop()
        q.close()
    assert peak < 4 * len(msg), f"refusing a {len(msg)}-byte message took {peak} bytes"
