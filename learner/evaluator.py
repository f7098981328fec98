"""Evaluation during training: a separate greedy actor scores the learner's weights every `eval_interval` frames.

The evaluation actor (`actor.evaluate:eval_entry`, started by name: the learner never
imports `actor`) reads the newest weights from the weight board when asked and plays
`learner.eval_episodes` greedy games with unclipped returns. One evaluation runs at a
time: a due evaluation while one is still running is skipped, so a slow evaluation
never holds up training. Results go to TensorBoard at the frame count of the weights
evaluated, and into the next metrics.csv row.
"""

from __future__ import annotations

import math
import os

import numpy as np

from common import config as config_lib
from common.config import Config
from common.process import (
    SINGLE_THREAD_ENV,
    Heartbeat,
    StopFlag,
    context,
    derive_seed,
    get_logger,
    spawn,
    stop_processes,
)
from common.transport import WeightBoard
from learner.metrics import MetricsLogger

log = get_logger("learner")

EVAL_ENTRY = "actor.evaluate:eval_entry"
STARTUP_GRACE_S = 120.0  # the least time the evaluation actor gets before its first result counts as hung


class Evaluator:
    def __init__(self, cfg: Config, board: WeightBoard, metrics: MetricsLogger, start_frames: int):
        self.interval = cfg.learner.eval_interval
        self.enabled = self.interval > 0
        self.cfg = cfg
        self.board = board
        self.metrics = metrics
        self.next_eval = (start_frames // self.interval + 1) * self.interval if self.enabled else math.inf
        self.history: list[dict] = []  # {"frames", "mean", "returns"} per finished evaluation
        self._unlogged: tuple[int, float] | None = None  # newest result not yet in a metrics row
        self._busy = False
        self._proc = None
        self._conn = None
        self._stop = None
        self._heartbeat = None
        self.restarts = 0  # evaluation actors killed for being hung

    def start(self) -> None:
        if not self.enabled:
            return
        ctx = context()
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self._stop = StopFlag(ctx)
        self._heartbeat = Heartbeat(ctx)
        seed = derive_seed(self.cfg.seed, "eval")
        args = (config_lib.to_dict(self.cfg), self.board, child_conn, self._stop, self._heartbeat, seed, os.getpid())
        self._proc = spawn(EVAL_ENTRY, args, env=SINGLE_THREAD_ENV, name="eval-actor")

    def _restart_if_hung(self) -> None:
        """Kill and replace an evaluation actor whose heartbeat stopped (start-up, which compiles, gets 3x)."""
        limit = self.cfg.actor.hung_timeout_s
        if not self.history:  # its first evaluation compiles the model
            limit = max(3 * limit, STARTUP_GRACE_S)
        silent = self._heartbeat.silent_for()
        if silent <= limit:
            return
        log.warning(f"the evaluation actor (pid {self._proc.pid}) was silent for {silent:.0f}s: hung; replacing it")
        self._proc.kill()
        self._proc.join(timeout=5.0)
        self._conn.close()
        self._busy = False  # the evaluation it was running is lost; the next due one runs on the new actor
        self.restarts += 1
        self.start()

    def _collect(self, timeout: float = 0.0) -> None:
        """Log the results that have arrived (waiting up to `timeout` seconds for the first)."""
        while self._conn.poll(timeout):
            timeout = 0.0
            try:
                eval_frames, returns = self._conn.recv()
            except (EOFError, OSError):
                break
            self._busy = False
            mean = float(np.mean(returns)) if returns else float("nan")
            self.history.append({"frames": int(eval_frames), "mean": mean, "returns": [float(r) for r in returns]})
            self._unlogged = (int(eval_frames), mean)
            self.metrics.log_scalar("eval/episodic_return", mean, int(eval_frames))
            log.info(
                f"evaluation at {eval_frames:,} frames: mean return {mean:.1f} over {len(returns)} greedy episodes"
            )

    def poll(self, frames: int) -> None:
        """Log finished evaluations; ask for one when it is due (call from the train loop)."""
        if not self.enabled or self._proc is None:
            return
        self._collect()
        if not self._proc.is_alive():
            log.info(f"the evaluation actor died (exit code {self._proc.exitcode}); evaluation is off for this run")
            self._proc = None
            return
        self._restart_if_hung()
        if frames >= self.next_eval:
            if self._busy:
                log.info(f"evaluation due at {self.next_eval:,} frames skipped: the previous one is still running")
            else:
                self._conn.send(frames)
                self._busy = True
            self.next_eval = (frames // self.interval + 1) * self.interval

    def columns(self) -> dict:
        """Metrics-row fields: the newest evaluation since the last row, NaN otherwise (fixed CSV columns)."""
        if not self.enabled:
            return {}
        frames, mean = self._unlogged if self._unlogged else (float("nan"), float("nan"))
        self._unlogged = None
        return {"eval/episodic_return": mean, "eval/frames": frames, "eval/restarts": self.restarts}

    def stop(self, wait_s: float = 0.0) -> None:
        """Stop the evaluation actor, first waiting up to `wait_s` for an evaluation in progress."""
        if self._busy and self._proc is not None and self._proc.is_alive() and wait_s > 0:
            self._collect(timeout=wait_s)
        if self._stop is not None:
            self._stop.set()
        # Waiting for an idle actor takes one poll (0.5 s); one still starting or playing would finish work
        # nobody collects, so it is terminated.
        stop_processes([self._proc], deadline_s=1.0)
        if self._conn is not None:
            self._conn.close()
