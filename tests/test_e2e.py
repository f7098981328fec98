"""End-to-end runs of the training entry point (`python -m learner`), as the README shows it."""

import json
import os
import signal
import time

import numpy as np
import pytest
from proc_utils import actor_pids, alive, children, finish, metric_rows, start_learner, wait_for


def _load_checkpoint(run_path):
    from common.config import from_dict
    from common.env import probe_spec
    from common.model import build_model

    with open(os.path.join(run_path, "config.json")) as fh:
        cfg = from_dict(json.load(fh))
    model = build_model(probe_spec(cfg.env), cfg.model, seed=cfg.seed, algorithm=cfg.algorithm)  # initial weights
    before = [np.asarray(v.value) for v in model.weights]
    model.load_weights(os.path.join(run_path, "checkpoints", "latest.weights.h5"))
    after = [np.asarray(v.value) for v in model.weights]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), "checkpoint holds untrained weights"
    return model


def test_smoke_cartpole_trains_and_writes_outputs(tmp_path):
    proc = start_learner("--config", "configs/smoke_cartpole.yaml", run_dir=tmp_path)
    rc, out = finish(proc, timeout=180)
    assert rc == 0, out
    run = tmp_path / "smoke_cartpole"
    for name in ("config.json", "metrics.csv", "summary.json", "checkpoints/latest.weights.h5"):
        assert (run / name).exists(), name
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outcome"] == "completed" and summary["frames"] >= 20_000
    rows = metric_rows(run / "metrics.csv")
    assert rows and {"charts/fps", "actor/policy_lag_mean", "learner/queue_size", "losses/total"} <= set(rows[0])
    assert "frames" in out and "fps" in out and "return(100)" in out
    # The final row, written after the actors were stopped, counts the actors that trained to the end.
    progress_lines = [line for line in out.splitlines() if "| actors " in line]
    assert float(rows[-1]["learner/actors_alive"]) == 2 and "| actors 2 |" in progress_lines[-1], out
    _load_checkpoint(run)


@pytest.mark.parametrize("algorithm", ["q_1step", "sarsa_1step", "q_nstep"])
def test_smoke_value_methods_log_epsilon_and_q(tmp_path, algorithm):
    proc = start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--set",
        f"algorithm={algorithm}",
        "--set",
        "actor.epsilon_anneal_frames=10000",
        run_dir=tmp_path,
    )
    rc, out = finish(proc, timeout=180)
    assert rc == 0, out
    run = tmp_path / "smoke_cartpole"
    rows = metric_rows(run / "metrics.csv")
    assert {"actor/epsilon_0", "actor/epsilon_1", "losses/mean_q", "losses/td_error"} <= set(rows[0])
    last = rows[-1]
    from actor.exploration import draw_final_epsilons

    for i in (0, 1):  # annealed past 10,000 frames: each actor's 4 envs sit at their own final values
        finals = draw_final_epsilons((0.1, 0.01, 0.5), (0.4, 0.3, 0.3), seed=0, actor_id=i, num_envs=4)
        assert float(last[f"actor/epsilon_{i}"]) == pytest.approx(float(finals.mean()), abs=1e-6), last
    assert "eps" in out
    _load_checkpoint(run)


def test_smoke_vtrace_with_a_policy_lag_limit(tmp_path):
    proc = start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--set",
        "learner.correction=vtrace",
        "--set",
        "learner.max_policy_lag=1",
        run_dir=tmp_path,
    )
    rc, out = finish(proc, timeout=180)
    assert rc == 0, out
    run = tmp_path / "smoke_cartpole"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["frames"] >= 20_000 and "stale_dropped_unrolls" in summary
    rows = metric_rows(run / "metrics.csv")
    assert "learner/stale_dropped_unrolls" in rows[0]
    assert all(float(r["actor/policy_lag_max"]) <= 1 for r in rows)  # enforced as of when the unroll is trained
    _load_checkpoint(run)


def test_smoke_lstm_with_vtrace_on_masked_cartpole(tmp_path):
    proc = start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--set",
        "model.core=lstm",
        "--set",
        "model.lstm_size=8",
        "--set",
        "env.obs_wrapper=mask_velocity",
        "--set",
        "learner.correction=vtrace",
        run_dir=tmp_path,
    )
    rc, out = finish(proc, timeout=180)
    assert rc == 0, out
    assert "obs (2,) float32" in out
    summary = json.loads((tmp_path / "smoke_cartpole" / "summary.json").read_text())
    assert summary["frames"] >= 20_000 and summary["dropped_unrolls"] == 0
    model = _load_checkpoint(tmp_path / "smoke_cartpole")
    assert any("lstm" in v.path for v in model.trainable_variables)


def test_smoke_pong_real_atari_run(tmp_path):
    proc = start_learner("--config", "configs/smoke_pong.yaml", run_dir=tmp_path)
    rc, out = finish(proc, timeout=240)
    assert rc == 0, out
    summary = json.loads((tmp_path / "smoke_pong" / "summary.json").read_text())
    assert summary["frames"] >= 4_000 and summary["updates"] >= 50
    _load_checkpoint(tmp_path / "smoke_pong")


@pytest.mark.parametrize(
    "env_id, expected",
    [
        ("ALE/Pongg-v5", "error: env.id: unknown environment 'ALE/Pongg-v5'"),
        ("PongNoFrameskip-v4", "error: env.id: 'PongNoFrameskip-v4' is a legacy ale-py id"),
    ],
)
def test_unknown_or_legacy_env_fails_before_spawning(tmp_path, env_id, expected):
    proc = start_learner("--config", "configs/smoke_cartpole.yaml", "--env", env_id, run_dir=tmp_path)
    rc, out = finish(proc, timeout=60)
    assert rc == 2
    assert out.strip().splitlines() == [out.strip()]  # one line
    assert out.startswith(expected) and "Traceback" not in out
    assert not (tmp_path / "smoke_cartpole").exists()


def test_bad_override_is_one_line(tmp_path):
    proc = start_learner("--config", "configs/smoke_cartpole.yaml", "--set", "learner.gamma=2", run_dir=tmp_path)
    rc, out = finish(proc, timeout=60)
    assert rc == 2 and out.strip() == "error: learner.gamma: must be <= 1.0, got 2.0"


def _start_long_run(tmp_path, *extra):
    proc = start_learner(
        "--config", "configs/smoke_cartpole.yaml", "--total-frames", "50000000", *extra, run_dir=tmp_path
    )
    csv_path = tmp_path / "smoke_cartpole" / "metrics.csv"
    # An upper bound, not a timing: 8 actors each import JAX and compile their policy before the first
    # unroll, which took over 120 s on 2 loaded cores (and ~20 s idle).
    ok = wait_for(lambda: any(float(r["charts/frames"]) > 0 for r in metric_rows(csv_path)), 300, proc)
    if not ok:
        rc, out = finish(proc, timeout=30)
        raise AssertionError(f"training never started (rc {rc}):\n{out}")
    return proc


@pytest.mark.parametrize("sig,expected_rc", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_stops_cleanly(tmp_path, sig, expected_rc):
    proc = _start_long_run(tmp_path)
    kids = children(proc.pid)
    assert len(actor_pids(proc.pid)) == 2
    os.killpg(proc.pid, sig)  # the whole group, as a terminal's Ctrl-C or `kill -TERM -PGID` does
    rc, out = finish(proc, timeout=90)
    assert rc == expected_rc, out
    assert wait_for(lambda: not any(alive(k) for k in kids), 10), "a child process outlived the learner"
    assert "Traceback" not in out
    summary = json.loads((tmp_path / "smoke_cartpole" / "summary.json").read_text())
    assert summary["outcome"].startswith("stopped")
    _load_checkpoint(tmp_path / "smoke_cartpole")


def _trains_on_with_a_restart_counted(csv_path, proc):
    """Training goes on with the replacement: new rows with more frames, a restart counted."""
    frames_then = float(metric_rows(csv_path)[-1]["charts/frames"])
    assert wait_for(
        lambda: (
            (rows := metric_rows(csv_path))
            and float(rows[-1]["charts/frames"]) > frames_then
            and float(rows[-1]["learner/actor_restarts"]) >= 1
        ),
        60,
        proc,
    )


def test_dead_actor_is_replaced(tmp_path):
    proc = _start_long_run(tmp_path)
    victim = actor_pids(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: victim not in actor_pids(proc.pid) and len(actor_pids(proc.pid)) == 2, 30, proc)
    time.sleep(1.0)
    _trains_on_with_a_restart_counted(tmp_path / "smoke_cartpole" / "metrics.csv", proc)
    os.kill(proc.pid, signal.SIGTERM)
    rc, out = finish(proc, timeout=90)
    assert rc == 0, out
    assert f"(pid {victim}) died" in out


def test_a_diverging_run_stops_by_itself_with_one_line_and_finite_checkpoints(tmp_path):
    proc = start_learner(
        "--config",
        "configs/smoke_cartpole.yaml",
        "--set",
        "learner.learning_rate=1e30",
        "--total-frames",
        "100000000",  # it must end by itself, long before this
        run_dir=tmp_path,
    )
    rc, out = finish(proc, timeout=180)
    assert rc == 1, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: ") and "in a row" in last and ("non-finite" in last or "invalid" in last), out
    run = tmp_path / "smoke_cartpole"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["outcome"] == "error (NonFiniteTraining)"  # skipped updates or invalid unrolls, 100 in a row
    model = _load_checkpoint(run)
    assert all(np.isfinite(np.asarray(v.value)).all() for v in model.weights)


def test_a_hung_actor_is_killed_and_replaced(tmp_path):
    proc = _start_long_run(tmp_path, "--set", "actor.hung_timeout_s=10")
    victim = actor_pids(proc.pid)[0]
    os.kill(victim, signal.SIGSTOP)  # alive, but makes no progress: as a deadlocked actor
    # 10 s of silence, or the start-up grace (120 s) if it had not sent its first unroll yet (cold compile cache)
    assert wait_for(lambda: victim not in actor_pids(proc.pid) and len(actor_pids(proc.pid)) == 2, 200, proc)
    _trains_on_with_a_restart_counted(tmp_path / "smoke_cartpole" / "metrics.csv", proc)
    os.kill(proc.pid, signal.SIGTERM)
    rc, out = finish(proc, timeout=90)
    assert rc == 0, out
    assert f"(pid {victim}) handed over nothing for" in out and "hung; killing it" in out
    assert not alive(victim)


def test_shutdown_is_bounded_with_every_actor_hung(tmp_path):
    proc = _start_long_run(tmp_path, "--actors", "8", "--set", "learner.eval_interval=2000")
    assert wait_for(lambda: len(actor_pids(proc.pid)) == 9, 120, proc), "8 actors and the evaluation actor"
    kids = actor_pids(proc.pid)
    for pid in kids:
        os.kill(pid, signal.SIGSTOP)  # every actor and the evaluation actor
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    rc, out = finish(proc, timeout=90)
    took = time.monotonic() - t0
    assert rc == 0, out
    assert took < 35, f"shutdown took {took:.0f}s with every child hung (compose gives 60s)"
    assert wait_for(lambda: not any(alive(k) for k in kids), 10), "a hung child outlived the learner"
    summary = json.loads((tmp_path / "smoke_cartpole" / "summary.json").read_text())
    assert summary["outcome"] == "stopped by SIGTERM"
    _load_checkpoint(tmp_path / "smoke_cartpole")  # the final checkpoint was written


def test_a_hung_evaluation_actor_is_replaced(tmp_path):
    proc = _start_long_run(tmp_path, "--set", "learner.eval_interval=5000", "--set", "actor.hung_timeout_s=10")
    csv_path = tmp_path / "smoke_cartpole" / "metrics.csv"
    assert wait_for(lambda: any(r.get("eval/episodic_return") not in ("", "nan") for r in metric_rows(csv_path)), 120)
    kids = actor_pids(proc.pid)
    assert len(kids) == 3
    victim = max(kids)  # the evaluation actor: spawned after the two actors, so it has the highest pid
    os.kill(victim, signal.SIGSTOP)
    assert wait_for(lambda: not alive(victim) and len(actor_pids(proc.pid)) == 3, 60, proc)
    assert wait_for(lambda: float(metric_rows(csv_path)[-1].get("eval/restarts") or 0) >= 1, 60, proc)
    os.kill(proc.pid, signal.SIGTERM)
    rc, out = finish(proc, timeout=90)
    assert rc == 0, out
    assert f"the evaluation actor (pid {victim}) was silent for" in out
