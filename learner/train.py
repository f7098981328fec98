"""The learner process: spawn actors, train on their unrolls, publish weights, log, checkpoint.

Data flow: actors -> ExperienceQueue -> Batcher thread -> train_step -> WeightBoard -> actors.
`train` runs five stages: build the run, start its services, the train loop, shut down, write
the summary.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from common import algorithms, run_record
from common import config as config_lib
from common.algorithms import Algorithm, UpdateSchedule
from common.config import Config, ConfigError, stop_frames
from common.env import probe_spec
from common.model import build_model, core_size, model_variables
from common.process import catch_stop_signals, context, get_logger
from common.shell import abandon
from common.transport import ExperienceQueue, WeightBoard, unroll_fields
from common.transport.schema import UnrollBounds, nbytes
from common.transport.server import RemoteServer
from common.transport.wire import authkey_from_env
from learner.actor_pool import ActorPool
from learner.batcher import Batcher
from learner.checkpoint import CheckpointError, Counters, resume_checkpoint, save_checkpoint
from learner.evaluator import Evaluator
from learner.metrics import MetricsLogger
from learner.progress import Every, Progress, Summary, read_summary, summarize
from learner.run_folder import RunLock, claim_new, empty_folder, lock_existing
from learner.tracking import Tracker, check_available, start_tracking
from learner.train_step import (
    init_state,
    make_entropy_schedule,
    make_lr_schedule,
    make_optimizer,
    make_train_step,
    update_target,
    write_back,
)

log = get_logger("learner")
STOP_POLL_S = 0.1  # how often the learner looks for a stop request while the train step compiles


class NonFiniteTraining(RuntimeError):
    """Training kept producing non-finite numbers; one line for the user (exit code 1)."""


class StopRequest:
    """Set by SIGTERM / Ctrl-C; the train loop checks it between updates. A second Ctrl-C stops waiting."""

    def __init__(self):
        self.reason: str | None = None
        self.interrupted = False
        self._installed = False

    def request(self, reason: str) -> None:
        if reason == "Ctrl-C":
            if self.interrupted:  # second Ctrl-C: stop waiting on anything
                raise KeyboardInterrupt
            self.interrupted = True
        self.reason = self.reason or reason

    def install(self):
        """Install the handlers; returns a function restoring the previous ones. Idempotent."""
        if self._installed:
            return lambda: None
        self._installed = True
        restore_handlers = catch_stop_signals(self.request)

        def restore():
            restore_handlers()
            self._installed = False

        return restore


@dataclass
class Run:
    """Everything a run is built from: the learning state and the services around it."""

    cfg: Config
    algo: Algorithm  # what the config's `algorithm` names (`common.algorithms`)
    run_path: str
    ckpt_dir: str
    model: Any
    optimizer: Any
    lr_schedule: Any
    entropy_schedule: Any  # update count -> entropy weight (a3c)
    schedule: UpdateSchedule  # frames per update (batch), optimizer steps per update
    state: Any  # TrainState
    train_step: Any  # jitted (state, batch, entropy_coef) -> (state, metrics); compiled ahead in start_services
    fields: dict  # unroll layout
    before: Counters  # where a resumed run continues from (zeros for a new run)
    resumed: bool
    exp_queue: ExperienceQueue
    board: WeightBoard
    remote: RemoteServer | None
    pool: ActorPool
    batcher: Batcher
    metrics: MetricsLogger
    evaluator: Evaluator
    lock: RunLock  # held until the summary is written: no second learner on this folder
    tracker: Tracker  # Weights & Biases, when run.track is set

    def learning_rate(self, updates: int) -> float:
        """The learning rate after `updates` batches (the schedule counts optimizer steps)."""
        return float(self.lr_schedule(self.schedule.optimizer_steps(updates)))


def _publish(board: WeightBoard, version: int, state) -> None:
    board.publish(version, [np.asarray(a) for a in list(state.trainable) + list(state.non_trainable)])


def train(
    cfg: Config, stop: StopRequest | None = None, quiet: bool = False, resume: bool = False, overwrite: bool = False
) -> Summary:
    """Train `cfg` to `total_frames` (or until stopped) and return the run summary.

    A new run writes to `<run.dir>/<name>`, or to the first free `<name>-N` when that holds
    another run (`summary.run_path` says which). resume: continue the run in `<run.dir>/<name>`
    from the newest checkpoint in its `checkpoints/` (counters, optimizer, schedule, target
    network, actor seeds); metrics.csv is appended to. overwrite: empty `<run.dir>/<name>` first.
    Raises ConfigError before any process is spawned if the env id, model or checkpoint do not fit,
    RunFolderError if another learner holds the folder.
    """
    stop = stop or StopRequest()
    run = build_run(cfg, quiet, resume, overwrite)
    progress = Progress.resuming(run.before, cfg.run.stop_window)
    outcome = "completed"
    restore_signals = stop.install()
    try:
        if stop.reason is None:  # stopped while the run was built: spawn nothing, compile nothing
            start_services(run, stop)
        outcome = train_loop(run, progress, stop)
    except BaseException as exc:
        outcome = f"error ({type(exc).__name__})"
        raise
    finally:
        try:
            shut_down(run, progress, outcome)
            summary = write_summary(run, progress, outcome)
        finally:
            restore_signals()
            run.lock.release()
    return summary


# ---------------------------------------------------------------- stage 1: build the run


def claim_run_folder(cfg: Config, resume: bool, overwrite: bool) -> tuple[Config, RunLock]:
    """The config naming the folder this run writes to, and that folder's lock (`learner.run_folder`)."""
    if resume or overwrite:
        lock = lock_existing(cfg.run_path)
        removed = empty_folder(cfg.run_path) if overwrite else []
        if removed:
            log.info(f"overwrite: removed from {cfg.run_path}: {', '.join(removed)}")
        return cfg, lock
    path, lock = claim_new(cfg.run.dir, cfg.name)
    if path != cfg.run_path:
        log.info(
            f"{cfg.run_path} holds another run: this one writes to {path} (--overwrite replaces, --resume continues)"
        )
        cfg = dataclasses.replace(cfg, name=os.path.basename(path))
    return cfg, lock


def build_run(cfg: Config, quiet: bool, resume: bool, overwrite: bool = False) -> Run:
    """Model, optimizer, (resumed) state and every service, nothing started yet."""
    spec = probe_spec(cfg.env)  # unknown env ids fail here, before anything is spawned
    authkey = authkey_from_env() if cfg.remote.enabled else None  # no shared secret: refuse before writing anything
    check_available(cfg)  # --track without wandb: refuse before writing anything
    model = build_model(spec, cfg.model, seed=cfg.seed, algorithm=cfg.algorithm)
    cfg, lock = claim_run_folder(cfg, resume, overwrite)
    tracker = Tracker()
    try:
        tracker = start_tracking(cfg, cfg.run_path)  # before any service: a failed start leaves nothing behind
        return _build_services(cfg, spec, model, authkey, lock, tracker, quiet, resume)
    except BaseException:
        tracker.finish(exit_code=1)
        lock.release()
        raise


def _build_services(
    cfg: Config, spec, model, authkey, lock: RunLock, tracker: Tracker, quiet: bool, resume: bool
) -> Run:
    run_path = cfg.run_path
    ckpt_dir = os.path.join(run_path, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    T, E, B = cfg.actor.unroll_length, cfg.env.num_envs, cfg.learner.batch_unrolls
    algo = algorithms.get(cfg)
    schedule = algo.schedule(cfg, spec.frames_per_step)
    optimizer, lr_schedule, state, before, resumed = _learning_state(cfg, model, ckpt_dir, schedule, resume)
    # Written only now: a --resume that finds nothing to resume from leaves the run's record as it was.
    record_settings(cfg, run_path, before.frames if resumed else None)

    fields = unroll_fields(spec.obs_shape, spec.obs_dtype, spec.num_actions, T, E, cfg.algorithm, core_size(model))
    remote_channels = cfg.remote.max_actors if cfg.remote.enabled else 0  # queue channels after the local actors'
    check_memory(cfg, fields, cfg.actor.count + remote_channels)
    exp_queue = ExperienceQueue(context(), fields, cfg.actor.count + remote_channels, cfg.actor.queue_slots)
    board = WeightBoard(context(), [tuple(v.shape) for v in model_variables(model)])
    _publish(board, before.updates, state)
    # Remote actors feed the same queue (one channel each) and read the same board, over TCP.
    bounds = UnrollBounds.for_run(cfg.env.clip_rewards, cfg.learner.gamma, spec.max_episode_steps)
    remote = (
        RemoteServer(cfg, exp_queue, board, spec.num_actions, cfg.actor.count, authkey, bounds) if authkey else None
    )
    batcher = Batcher(exp_queue, spec.num_actions, B, cfg.learner.prefetch_batches, cfg.learner.max_policy_lag, bounds)
    batcher.learner_updates = before.updates  # a resumed run's policy versions continue
    metrics = MetricsLogger(run_path, quiet=quiet, resume_frames=before.frames if resumed else None)
    metrics.log_text("config", json.dumps(config_lib.to_dict(cfg), indent=2), before.frames)
    log.info(
        f"run {run_path}: {cfg.algorithm} on {cfg.env.id} ({spec.num_actions} actions, obs {spec.obs_shape} "
        f"{spec.obs_dtype}), {cfg.actor.count} actors x {E} envs, T={T}, B={B}, "
        f"{schedule.frames_per_batch} frames/update, {cfg.total_frames:,} frames"
        + (f" (this session stops at {stop_frames(cfg):,})" if stop_frames(cfg) < cfg.total_frames else "")
    )
    return Run(
        cfg=cfg,
        algo=algo,
        run_path=run_path,
        ckpt_dir=ckpt_dir,
        model=model,
        optimizer=optimizer,
        lr_schedule=lr_schedule,
        entropy_schedule=make_entropy_schedule(cfg.learner, cfg.total_frames, schedule.frames_per_batch),
        schedule=schedule,
        state=state,
        train_step=make_train_step(model, optimizer, cfg.learner, E, T, algo, seed=cfg.seed),
        fields=fields,
        before=before,
        resumed=resumed,
        exp_queue=exp_queue,
        board=board,
        remote=remote,
        pool=ActorPool(cfg, exp_queue, board, seed_base=before.actor_seed_base),
        batcher=batcher,
        metrics=metrics,
        evaluator=Evaluator(cfg, board, metrics, before.frames),
        lock=lock,
        tracker=tracker,
    )


def record_settings(cfg: Config, run_path: str, resumed_at: int | None) -> None:
    """A new run writes its config.json; a continued one (`resumed_at`: its frames) leaves config.json as the run
    started and appends what this leg changed to resumes.jsonl (`common.run_record`)."""
    saved = os.path.join(run_path, run_record.CONFIG_NAME)
    if resumed_at is None or not os.path.isfile(saved):
        config_lib.save(cfg, saved)
        return
    try:
        changed = run_record.changes(run_record.run_config(run_path), config_lib.to_dict(cfg))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--resume: {exc}") from None
    run_record.record_resume(run_path, resumed_at, changed)
    if changed:
        log.info("this leg changes " + ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items()))


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(cfg: Config, fields: dict, channels: int) -> None:
    """ConfigError, before anything is allocated or spawned, if the unroll buffers would not fit in memory:
    `queue_slots` unrolls per queue channel (each local and each possible remote actor), and the batcher's
    prefetched batches and the one in training."""
    unroll = sum(nbytes(shape, dtype) for shape, dtype in fields.values())
    need = unroll * (cfg.actor.queue_slots * channels + cfg.learner.batch_unrolls * (cfg.learner.prefetch_batches + 2))
    available = available_memory_bytes()
    if available is not None and need > 0.8 * available:
        gib = 2.0**30
        raise ConfigError(
            f"the unroll buffers need {need / gib:.1f} GiB ({unroll / 2**20:.2f} MiB per unroll x "
            f"{cfg.actor.queue_slots} queue_slots x {channels} actor channels, plus the batches) but only "
            f"{available / gib:.1f} GiB of memory is available; lower actor.queue_slots, env.num_envs, "
            "actor.unroll_length or remote.max_actors"
        )


def _learning_state(cfg: Config, model, ckpt_dir: str, schedule: UpdateSchedule, resume: bool):
    """(optimizer, lr schedule, train state, counters before this session, resumed?)."""
    algo = algorithms.get(cfg)
    lr_schedule = make_lr_schedule(cfg.learner, schedule.optimizer_steps(schedule.batches_for(cfg.total_frames)))
    optimizer = make_optimizer(cfg.learner, lr_schedule, algo)
    with_target = algo.uses_target_network
    state = init_state(model, optimizer, with_target, cfg.learner.rms_initial_mean_square)
    resumed = resume_checkpoint(ckpt_dir, model, optimizer, with_target, cfg.env.id, log.info) if resume else None
    if resumed is None:
        return optimizer, lr_schedule, state, Counters(), False
    before = resumed.counters
    log.info(f"resuming from {resumed.weights_path}: {before.frames:,} frames, {before.updates} updates")
    return optimizer, lr_schedule, resumed.state, before, True


# ---------------------------------------------------------------- stage 2: start the services


def start_services(run: Run, stop: StopRequest) -> None:
    """Spawn the actors, open the remote port, start the batcher and evaluator; compile the train step
    while the actors start up instead of when the first batch arrives."""
    run.pool.start()
    if run.remote:
        run.remote.start()
    run.batcher.start()
    run.evaluator.start()
    compile_ahead(run, stop)


def compile_ahead(run: Run, stop: StopRequest) -> None:
    """Compile the train step for the batch shapes in a thread, while this one waits for it or a stop request.

    XLA cannot be interrupted, and a cold compile takes tens of seconds on a busy machine: a stop request
    leaves it running in its (daemon) thread, `common.shell.abandon`ed, and the run shuts down at once
    (`run.train_step` then stays the uncompiled function; the train loop does not call it once stopped).
    The tracing (seconds) stays on this thread: Keras keeps its global state per thread."""
    B = run.cfg.learner.batch_unrolls
    batch_shapes = {k: jax.ShapeDtypeStruct((B, *shape), dtype) for k, (shape, dtype) in run.fields.items()}
    lowered = run.train_step.lower(run.state, batch_shapes, np.float32(0.0))
    if stop.reason is not None:
        return
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["step"] = lowered.compile()
        except BaseException as exc:  # raised again in the waiting thread
            done["error"] = exc

    thread = threading.Thread(target=work, name="train step compile", daemon=True)
    thread.start()
    while thread.is_alive() and stop.reason is None:
        thread.join(STOP_POLL_S)
    if thread.is_alive():
        abandon(thread)
        return
    if "error" in done:
        raise done["error"]
    run.train_step = done["step"]


# ---------------------------------------------------------------- stage 3: the train loop


def train_loop(run: Run, p: Progress, stop: StopRequest) -> str:
    """Train until the frame budget, a stop request, `run.stop_at_frames` or `run.stop_at_return`; returns the
    outcome."""
    cfg = run.cfg
    end = stop_frames(cfg)
    log_every = Every(cfg.run.log_interval_seconds)  # on this session's seconds
    checkpoint_every = Every(cfg.run.checkpoint_interval_frames, p.frames)
    target_every = Every(cfg.learner.target_update_frames, p.frames)  # algorithms with a target network
    while p.frames < end and stop.reason is None:
        run.pool.check()
        run.evaluator.poll(p.frames)
        if run.batcher.error is not None:
            raise run.batcher.error
        check_finite(run, p)
        try:
            batch, versions = run.batcher.out.get(timeout=0.5)
        except queue.Empty:
            batch = None
        if batch is not None:
            learn(run, p, batch, versions)
            if run.algo.uses_target_network and target_every.due(p.frames):
                run.state = update_target(run.state)
            if p.updates % cfg.learner.publish_interval == 0:
                _publish(run.board, p.updates, run.state)
            if checkpoint_every.due(p.frames):
                try:
                    checkpoint(run, p)
                except CheckpointError as exc:  # e.g. a full disk: keep training, try again at the next interval
                    log.warning(f"{exc}; training goes on")
        count_episodes(run, p)
        if log_every.due(p.seconds()):
            log_progress(run, p)
        if reached_returns(cfg, p):
            return "solved"
    if stop.reason is not None:
        return f"stopped by {stop.reason}"
    return "completed" if p.frames >= cfg.total_frames else "stopped at run.stop_at_frames"


def count_episodes(run: Run, p: Progress) -> None:
    """Games the actors finished since the last call: into return(100), and each as its own TensorBoard point."""
    while run.batcher.episodes:
        ret, length = run.batcher.episodes.popleft()
        p.returns.append(ret)
        p.episodes += 1
        run.metrics.log_scalar("charts/episodic_return", ret, p.frames)
        run.metrics.log_scalar("charts/episodic_length", length, p.frames)


def learn(run: Run, p: Progress, batch: dict, versions: np.ndarray) -> None:
    """Train on `batch` (made by the policy versions `versions` [B]): one update, the algorithm's optimizer
    steps, and the next policy version."""
    p.lags.extend((p.updates - versions).tolist())
    previous = p.last_metrics
    entropy_coef = np.float32(run.entropy_schedule(p.updates))
    run.state, p.last_metrics = run.train_step(run.state, batch, entropy_coef)
    if previous:  # read one step late, so that waiting for the flag never stalls the step just dispatched
        skipped = bool(previous["learner/skipped_update"])
        p.skipped_updates += skipped
        p.skipped_in_a_row = p.skipped_in_a_row + 1 if skipped else 0
    p.updates += 1
    run.batcher.learner_updates = p.updates
    p.frames += run.schedule.frames_per_batch
    if p.first_update_s is None:
        p.first_update_s, p.first_update_frames = p.seconds(), p.frames


def check_finite(run: Run, p: Progress) -> None:
    """NonFiniteTraining once `learner.max_nonfinite_in_a_row` updates in a row were skipped (non-finite loss,
    gradient or weights: the train step kept the weights before them) or unrolls in a row were dropped."""
    limit = run.cfg.learner.max_nonfinite_in_a_row
    if p.skipped_in_a_row >= limit:
        what = f"{p.skipped_in_a_row} updates in a row had a non-finite loss, gradient or weights"
    elif run.batcher.dropped_in_a_row >= limit:
        what = f"{run.batcher.dropped_in_a_row} unrolls in a row were invalid (non-finite numbers: diverged weights?)"
    else:
        return
    raise NonFiniteTraining(
        f"{what}, at {p.frames:,} frames; stopping (learning rate {run.learning_rate(p.updates):.3g}: too "
        "large?). No checkpoint holds non-finite weights"
    )


def reached_returns(cfg: Config, p: Progress) -> bool:
    """Note `run.target_return`'s first crossing; True once `run.stop_at_return` is reached."""
    window = cfg.run.stop_window
    if len(p.returns) < window or (cfg.run.stop_at_return is None and cfg.run.target_return is None):
        return False
    mean = p.mean_return(window)
    if p.reached_at is None and cfg.run.target_return is not None and mean >= cfg.run.target_return:
        p.reached_at = p.mark()
    if cfg.run.stop_at_return is not None and mean >= cfg.run.stop_at_return:
        p.solved_at = p.mark()
        return True
    return False


def checkpoint(run: Run, p: Progress) -> None:
    """Save the current state, unless a weight is not finite (then the previous checkpoint stays `latest`)."""
    if not all(np.isfinite(np.asarray(w)).all() for w in run.state.trainable):
        log.info(f"not checkpointing at {p.frames:,} frames: the weights are not finite; the previous one stays")
        return
    write_back(run.state, run.model, run.optimizer)
    counters = p.counters(run.pool.next_seed_base())
    save_checkpoint(run.ckpt_dir, run.model, run.optimizer, run.state.target, counters, run.cfg.run.keep_checkpoints)


def log_progress(run: Run, p: Progress) -> None:
    """A metrics row and progress line, or, before the first update, what the learner waits for."""
    if p.last_metrics:  # this session has trained (a resumed run starts with updates > 0)
        log_row(run, p, actors_alive(run))
    else:
        log.info(
            f"waiting for the first batch ({run.pool.alive()}/{run.cfg.actor.count} actors alive, "
            f"{run.exp_queue.fill()} unrolls queued)"
        )


def log_row(run: Run, p: Progress, alive: int) -> None:
    """Log a metrics row; `alive`: the actors (local and remote) to report as alive."""
    now = time.monotonic()
    run.metrics.log(metrics_row(run, p, now, alive))
    p.last_log_time, p.last_log_frames, p.lags = now, p.frames, []


def actors_alive(run: Run) -> int:
    return run.pool.alive() + (run.remote.connected() if run.remote else 0)  # local + remote


def metrics_row(run: Run, p: Progress, now: float, alive: int) -> dict:
    """One metrics.csv row / TensorBoard step: progress, actors, queue, schedule, losses, evaluation."""
    cfg, batcher = run.cfg, run.batcher
    return100 = p.mean_return(100)
    row = {
        "time/elapsed_s": p.elapsed_before_s + now - p.started,
        "charts/frames": p.frames,
        "charts/progress_pct": 100.0 * p.frames / cfg.total_frames,
        "time/remaining_s": p.seconds_left(stop_frames(cfg)),
        "charts/fps": (p.frames - p.last_log_frames) / max(now - p.last_log_time, 1e-9),
        "charts/updates": p.updates,
        "charts/episodes": p.episodes,
        "charts/mean_return_100": return100 if return100 is not None else float("nan"),
        "actor/policy_lag_mean": float(np.mean(p.lags)) if p.lags else 0.0,
        "actor/policy_lag_max": float(np.max(p.lags)) if p.lags else 0.0,
        "learner/queue_size": run.exp_queue.fill(),
        "learner/queue_capacity": run.exp_queue.capacity,
        "learner/prefetched": batcher.out.qsize(),
        "learner/dropped_unrolls": batcher.dropped,
        "learner/stale_dropped_unrolls": batcher.stale_dropped,
        "learner/actors_alive": alive,
        "learner/actor_restarts": run.pool.restarts,
        "learner/skipped_updates": p.skipped_updates,
        "learner/learning_rate": run.learning_rate(p.updates),
    }
    if cfg.learner.entropy_coef_final is not None:
        row["learner/entropy_coef"] = float(run.entropy_schedule(p.updates))
    if run.algo.uses_epsilon:  # each actor's current epsilon (NaN until it has sent an unroll)
        eps = [batcher.epsilons.get(i, float("nan")) for i in range(cfg.actor.count)]
        row.update({f"actor/epsilon_{i}": e for i, e in enumerate(eps)})
        row["actor/epsilon_mean"] = float(np.nanmean(eps)) if not np.isnan(eps).all() else float("nan")
    row.update(run.remote.metrics() if run.remote else {})
    row.update({k: float(v) for k, v in p.last_metrics.items() if k != "learner/skipped_update"})
    row.update(run.evaluator.columns())
    return row


# ---------------------------------------------------------------- stage 4: shut down


def shut_down(run: Run, p: Progress, outcome: str) -> None:
    """Stop every service, then write the final checkpoint and metrics row (a failed one keeps the last good)."""
    log.info(f"shutting down: {outcome}")
    alive = actors_alive(run)  # the final row reports the actors that trained to the end, not the stopped ones
    if run.remote:
        run.remote.stop()
    run.pool.stop()
    run.evaluator.stop(wait_s=60.0 if outcome in ("completed", "solved") else 0.0)  # keep a finished run's last one
    run.batcher.stop()
    if run.batcher.ident is not None:  # not started when pool.start() failed: keep that error, not join's
        run.batcher.join(timeout=5.0)
    run.exp_queue.close()
    try:
        checkpoint(run, p)
    except Exception as exc:  # e.g. the state was lost with a failed step: keep the last good file
        log.info(f"could not write the final checkpoint ({type(exc).__name__}: {exc}); the previous one stays")
    try:
        if p.last_metrics and p.frames > p.last_log_frames:
            log_row(run, p, alive)
    finally:
        try:
            run.metrics.close()
        finally:
            ok = outcome in ("completed", "solved") or outcome.startswith("stopped")
            run.tracker.finish(exit_code=0 if ok else 1)


# ---------------------------------------------------------------- stage 5: the summary


def write_summary(run: Run, p: Progress, outcome: str) -> Summary:
    """summary.json: the run as a whole, with this leg after the legs its earlier summary.json recorded."""
    window, seconds = run.cfg.run.stop_window, p.seconds()
    leg = {
        "outcome": outcome,
        "started_unix": p.started_unix,
        "seconds": seconds,
        "first_update_seconds": p.first_update_s,
        "start_frames": run.before.frames,
        "frames": p.frames,
        "updates": p.updates,
        "episodes": p.episodes,
        "actor_restarts": run.pool.restarts,
        "dropped_unrolls": run.batcher.dropped,
        "stale_dropped_unrolls": run.batcher.stale_dropped,
        "skipped_updates": p.skipped_updates,
    }
    at_end = {
        "stop_window": window,
        "mean_return_last_window": p.mean_return(window),
        "mean_return_last_100": p.mean_return(100),
        "solved_at": p.solved_at,
        "run_path": run.run_path,
        "checkpoint": os.path.join(run.ckpt_dir, "latest.weights.h5"),
    }
    previous = read_summary(run.run_path) if run.resumed else {}
    run_seconds = p.elapsed_before_s + seconds
    summary = summarize(leg, previous, run.resumed, run_seconds, run.evaluator.history, p.reached_at, at_end)
    tmp = os.path.join(run.run_path, "summary.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(summary.to_dict(), fh, indent=2)
    os.replace(tmp, os.path.join(run.run_path, "summary.json"))
    log.info(
        f"done: {p.frames:,} frames, {p.updates} updates, {p.episodes} episodes in {seconds:.1f}s; "
        f"checkpoint {summary.checkpoint}"
    )
    return summary
