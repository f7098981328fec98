"""The learner process: spawn actors, train on their unrolls, publish weights, log, checkpoint.

Data flow: actors -> ExperienceQueue -> Batcher thread -> train_step -> WeightBoard -> actors.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import time
from collections import deque

import jax
import numpy as np

from common import config as config_lib
from common.config import Config, frames_per_update, is_value_method
from common.env import probe_spec
from common.launch import context
from common.model import build_model, core_size, model_variables
from common.remote_protocol import authkey_from_env
from common.remote_server import RemoteServer
from common.transport import ExperienceQueue, WeightBoard, unroll_fields
from learner.actor_pool import ActorPool
from learner.batcher import Batcher
from learner.checkpoint import Counters, resume_checkpoint, save_checkpoint
from learner.evaluator import Evaluator
from learner.metrics import MetricsLogger, log_line
from learner.train_step import (
    init_state,
    make_lr_schedule,
    make_optimizer,
    make_train_step,
    total_updates_for,
    update_target,
    write_back,
)


class StopRequest:
    """Set by SIGTERM / SIGINT handlers; the train loop checks it between updates."""

    def __init__(self):
        self.reason: str | None = None
        self.interrupted = False
        self._installed = False

    def install(self):
        """Install the handlers; returns a function restoring the previous ones. Idempotent."""
        if self._installed:
            return lambda: None
        self._installed = True

        def on_term(signum, frame):
            self.reason = self.reason or "SIGTERM"

        def on_int(signum, frame):
            if self.interrupted:  # second Ctrl-C: stop waiting on anything
                raise KeyboardInterrupt
            self.interrupted = True
            self.reason = "Ctrl-C"

        previous = (signal.signal(signal.SIGTERM, on_term), signal.signal(signal.SIGINT, on_int))

        def restore():
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
            self._installed = False

        return restore


def _publish(board: WeightBoard, version: int, state) -> None:
    board.publish(version, [np.asarray(a) for a in list(state.trainable) + list(state.non_trainable)])


def train(cfg: Config, stop: StopRequest | None = None, quiet: bool = False, resume: bool = False) -> dict:
    """Train `cfg` to `total_frames` (or until stopped) and return the run summary.

    resume: continue from the newest checkpoint in `<run>/checkpoints` (counters, optimizer,
    schedule, target network, actor seeds); metrics.csv is appended to.
    Raises ConfigError before any process is spawned if the env id, model or checkpoint do not fit.
    """
    stop = stop or StopRequest()
    spec = probe_spec(cfg.env)  # unknown env ids fail here, before anything is spawned
    authkey = authkey_from_env() if cfg.remote.enabled else None  # no shared secret: refuse before writing anything
    model = build_model(spec, cfg.model, seed=cfg.seed, algorithm=cfg.algorithm)
    value_method = is_value_method(cfg.algorithm)

    run_path = cfg.run_path
    ckpt_dir = os.path.join(run_path, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)

    T, E, B = cfg.actor.unroll_length, cfg.env.num_envs, cfg.learner.batch_unrolls
    update_frames = frames_per_update(cfg, spec.frames_per_step)
    total_updates = total_updates_for(cfg.total_frames, update_frames)
    lr_schedule = make_lr_schedule(cfg.learner, total_updates)  # also read for the metrics
    optimizer = make_optimizer(cfg.learner, lr_schedule)
    state = init_state(model, optimizer, with_target=value_method)
    resumed = resume_checkpoint(ckpt_dir, model, optimizer, value_method, cfg.env.id, log_line) if resume else None
    done = resumed.counters if resumed else Counters()
    if resumed:
        state = resumed.state
        log_line(f"resuming from {resumed.weights_path}: {done.frames:,} frames, {done.updates} updates")
    # Written only now: a --resume that finds nothing to resume from leaves the run's config.json as it was.
    config_lib.save(cfg, os.path.join(run_path, "config.json"))
    train_step = make_train_step(model, optimizer, cfg.learner, E, T, cfg.algorithm)

    ctx = context()
    fields = unroll_fields(spec.obs_shape, spec.obs_dtype, spec.num_actions, T, E, cfg.algorithm, core_size(model))
    remote_channels = cfg.remote.max_actors if cfg.remote.enabled else 0  # queue channels after the local actors'
    exp_queue = ExperienceQueue(ctx, fields, cfg.actor.count + remote_channels, cfg.actor.queue_slots)
    board = WeightBoard(ctx, [tuple(v.shape) for v in model_variables(model)])
    _publish(board, done.updates, state)
    # Remote actors feed the same queue (one channel each) and read the same board, over TCP.
    remote = RemoteServer(cfg, exp_queue, board, spec.num_actions, cfg.actor.count, authkey) if authkey else None

    pool = ActorPool(cfg, exp_queue, board, seed_base=done.actor_seed_base)
    batcher = Batcher(exp_queue, spec.num_actions, B, cfg.learner.prefetch_batches, cfg.learner.max_policy_lag)
    batcher.learner_updates = updates = done.updates  # a resumed run's policy versions continue
    metrics = MetricsLogger(run_path, quiet=quiet, resume_frames=done.frames if resumed else None)
    evaluator = Evaluator(cfg, board, metrics, done.frames)
    log_line(
        f"run {run_path}: {cfg.algorithm} on {cfg.env.id} ({spec.num_actions} actions, obs {spec.obs_shape} "
        f"{spec.obs_dtype}), {cfg.actor.count} actors x {E} envs, T={T}, B={B}, "
        f"{update_frames} frames/update, {cfg.total_frames:,} frames"
    )

    started = time.monotonic()
    started_unix = time.time()  # lets a benchmark measure launch -> first update from outside
    frames, episodes = done.frames, done.episodes
    returns: deque = deque(done.returns, maxlen=max(100, cfg.run.stop_window))
    lags: list[int] = []
    last_metrics: dict = {}
    next_log = started + cfg.run.log_interval_seconds
    last_log_time, last_log_frames = started, frames
    next_ckpt = (frames // cfg.run.checkpoint_interval_frames + 1) * cfg.run.checkpoint_interval_frames
    next_target = (frames // cfg.learner.target_update_frames + 1) * cfg.learner.target_update_frames  # value methods
    first_update_s = None
    solved_at = None
    reached_at = None  # run.target_return's first crossing
    outcome = "completed"
    restore_signals = stop.install()

    def checkpoint():
        write_back(state, model, optimizer)
        counters = Counters(
            frames, updates, episodes, done.elapsed_s + time.monotonic() - started, pool.next_seed_base(), list(returns)
        )
        save_checkpoint(ckpt_dir, model, optimizer, state.target, counters, cfg.run.keep_checkpoints)

    def log_row(now: float) -> None:
        nonlocal last_log_time, last_log_frames, lags
        m = {k: float(v) for k, v in last_metrics.items()}
        row = {
            "time/elapsed_s": done.elapsed_s + now - started,
            "charts/frames": frames,
            "charts/fps": (frames - last_log_frames) / max(now - last_log_time, 1e-9),
            "charts/updates": updates,
            "charts/episodes": episodes,
            "charts/mean_return_100": float(np.mean(list(returns)[-100:])) if returns else float("nan"),
            "actor/policy_lag_mean": float(np.mean(lags)) if lags else 0.0,
            "actor/policy_lag_max": float(np.max(lags)) if lags else 0.0,
            "learner/queue_size": exp_queue.fill(),
            "learner/queue_capacity": exp_queue.capacity,
            "learner/prefetched": batcher.out.qsize(),
            "learner/dropped_unrolls": batcher.dropped,
            "learner/stale_dropped_unrolls": batcher.stale_dropped,
            "learner/actors_alive": pool.alive() + (remote.connected() if remote else 0),  # local + remote
            "learner/actor_restarts": pool.restarts,
            "learner/learning_rate": float(lr_schedule(updates)),
        }
        if value_method:  # each actor's current epsilon (NaN until it has sent an unroll)
            eps = [batcher.epsilons.get(i, float("nan")) for i in range(cfg.actor.count)]
            row.update({f"actor/epsilon_{i}": e for i, e in enumerate(eps)})
            row["actor/epsilon_mean"] = float(np.nanmean(eps)) if not np.isnan(eps).all() else float("nan")
        row.update(remote.metrics() if remote else {})
        row.update(m)
        row.update(evaluator.columns())
        metrics.log(row)
        last_log_time, last_log_frames, lags = now, frames, []

    try:
        pool.start()
        if remote:
            remote.start()
        batcher.start()
        evaluator.start()
        # Compile now, while the actors start up, instead of when the first batch arrives.
        batch_shapes = {k: jax.ShapeDtypeStruct((B, *shape), dtype) for k, (shape, dtype) in fields.items()}
        train_step = train_step.lower(state, batch_shapes).compile()
        while frames < cfg.total_frames and stop.reason is None:
            pool.check()
            evaluator.poll(frames)
            if batcher.error is not None:
                raise batcher.error
            try:
                batch, versions = batcher.out.get(timeout=0.5)
            except queue.Empty:
                batch = None
            if batch is not None:
                lags.extend((updates - versions).tolist())
                state, step_metrics = train_step(state, batch)
                updates += 1
                batcher.learner_updates = updates
                frames += update_frames
                last_metrics = step_metrics
                if first_update_s is None:
                    first_update_s = time.monotonic() - started
                if value_method and frames >= next_target:
                    state = update_target(state)
                    next_target = (frames // cfg.learner.target_update_frames + 1) * cfg.learner.target_update_frames
                if updates % cfg.learner.publish_interval == 0:
                    _publish(board, updates, state)
                if frames >= next_ckpt:
                    checkpoint()
                    next_ckpt += cfg.run.checkpoint_interval_frames
            while batcher.episodes:
                ret, _length = batcher.episodes.popleft()
                returns.append(ret)
                episodes += 1
            now = time.monotonic()
            if now >= next_log:
                if last_metrics:  # this session has trained (a resumed run starts with updates > 0)
                    log_row(now)
                else:  # no losses yet: say what we wait for instead of writing an empty row
                    log_line(
                        f"waiting for the first batch ({pool.alive()}/{cfg.actor.count} actors alive, "
                        f"{exp_queue.fill()} unrolls queued)"
                    )
                next_log = now + cfg.run.log_interval_seconds
            window = cfg.run.stop_window
            if len(returns) >= window and (cfg.run.stop_at_return is not None or cfg.run.target_return is not None):
                mean = float(np.mean(list(returns)[-window:]))
                mark = {"frames": frames, "seconds": time.monotonic() - started, "episodes": episodes}
                if reached_at is None and cfg.run.target_return is not None and mean >= cfg.run.target_return:
                    reached_at = mark
                if cfg.run.stop_at_return is not None and mean >= cfg.run.stop_at_return:
                    solved_at, outcome = mark, "solved"
                    break
        if stop.reason is not None:
            outcome = f"stopped by {stop.reason}"
    except BaseException as exc:
        outcome = f"error ({type(exc).__name__})"
        raise
    finally:
        log_line(f"shutting down: {outcome}")
        if remote:
            remote.stop()
        pool.stop()
        evaluator.stop(
            wait_s=60.0 if outcome in ("completed", "solved") else 0.0
        )  # keep a finished run's last evaluation
        batcher.stop()
        if batcher.ident is not None:  # not started when pool.start() failed: keep that error, not join's
            batcher.join(timeout=5.0)
        exp_queue.close()
        try:
            checkpoint()
        except Exception as exc:  # e.g. the state was lost with a failed step: keep the last good file
            log_line(f"could not write the final checkpoint ({type(exc).__name__}: {exc}); the previous one stays")
        now = time.monotonic()
        try:
            if last_metrics and frames > last_log_frames:
                log_row(now)
        finally:
            metrics.close()
        window = cfg.run.stop_window
        summary = {
            "outcome": outcome,
            "frames": frames,
            "updates": updates,
            "episodes": episodes,
            "seconds": now - started,
            "started_unix": started_unix,
            "first_update_seconds": first_update_s,
            f"mean_return_last_{window}": float(np.mean(list(returns)[-window:])) if returns else None,
            "mean_return_last_100": float(np.mean(list(returns)[-100:])) if returns else None,
            "solved_at": solved_at,
            "reached_target_at": reached_at,
            "actor_restarts": pool.restarts,
            "dropped_unrolls": batcher.dropped,
            "stale_dropped_unrolls": batcher.stale_dropped,
            "checkpoint": os.path.join(ckpt_dir, "latest.weights.h5"),
            "resumed_from_frames": done.frames if resumed else None,
            "eval_returns": evaluator.history,
        }
        with open(os.path.join(run_path, "summary.json.tmp"), "w") as fh:
            json.dump(summary, fh, indent=2)
        os.replace(os.path.join(run_path, "summary.json.tmp"), os.path.join(run_path, "summary.json"))
        restore_signals()
        log_line(
            f"done: {frames:,} frames, {updates} updates, {episodes} episodes in {summary['seconds']:.1f}s; "
            f"checkpoint {summary['checkpoint']}"
        )
    return summary
