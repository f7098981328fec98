"""A run's live progress, its periodic events, and the summary it ends with."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field

import numpy as np

from learner.checkpoint import Counters


class Every:
    """Fires once each time a growing counter (frames, seconds) reaches the next multiple of `interval`."""

    def __init__(self, interval: float, start: float = 0):
        self.interval = interval
        self.next = (start // interval + 1) * interval

    def due(self, value: float) -> bool:
        if value < self.next:
            return False
        self.next = (value // self.interval + 1) * self.interval
        return True


@dataclass
class Progress:
    """Counters the train loop moves; the metrics rows, checkpoints and summary read them."""

    frames: int  # emulator frames trained on, this run and every session before it
    updates: int
    episodes: int
    returns: deque  # the last finished games' unclipped returns
    elapsed_before_s: float  # training seconds of the sessions before this one
    started: float = field(default_factory=time.monotonic)
    started_unix: float = field(default_factory=time.time)  # lets a benchmark time launch -> first update
    lags: list[int] = field(default_factory=list)  # policy lag of each unroll since the last metrics row
    last_metrics: dict = field(default_factory=dict)  # the newest train step's losses
    last_log_time: float = 0.0
    last_log_frames: int = 0
    first_update_s: float | None = None  # this session's seconds at its first update
    first_update_frames: int = 0  # frames just after that update
    solved_at: dict | None = None  # run.stop_at_return reached
    reached_at: dict | None = None  # run.target_return's first crossing
    skipped_updates: int = 0  # train steps not applied: non-finite loss, gradient or weights
    skipped_in_a_row: int = 0

    @classmethod
    def resuming(cls, before: Counters, window: int) -> Progress:
        p = cls(
            before.frames,
            before.updates,
            before.episodes,
            deque(before.returns, maxlen=max(100, window)),
            before.elapsed_s,
        )
        p.last_log_time, p.last_log_frames = p.started, p.frames
        return p

    def seconds(self) -> float:
        """Seconds since this session's training began."""
        return time.monotonic() - self.started

    def seconds_left(self, total_frames: int) -> float:
        """Time to `total_frames` at this session's mean rate since its first update (start-up and
        compiling left out); NaN until frames were trained after that update."""
        if self.frames >= total_frames:
            return 0.0
        if self.first_update_s is None:
            return math.nan
        frames = self.frames - self.first_update_frames
        rate = frames / max(self.seconds() - self.first_update_s, 1e-9)
        return (total_frames - self.frames) / rate if rate > 0 else math.nan

    def mean_return(self, last: int) -> float | None:
        """Mean of the last `last` games' returns (fewer if fewer ended), None before any."""
        return float(np.mean(list(self.returns)[-last:])) if self.returns else None

    def mark(self) -> dict:
        return {"frames": self.frames, "seconds": self.seconds(), "episodes": self.episodes}

    def counters(self, actor_seed_base: int) -> Counters:
        """What a checkpoint stores for `--resume`."""
        return Counters(
            self.frames,
            self.updates,
            self.episodes,
            self.elapsed_before_s + self.seconds(),
            actor_seed_base,
            list(self.returns),
        )


@dataclass
class Summary:
    """The end of a run, written to summary.json."""

    outcome: str  # completed, solved, "stopped by SIGTERM", "error (...)"
    frames: int
    updates: int
    episodes: int
    seconds: float  # this session's training time
    started_unix: float
    first_update_seconds: float | None
    stop_window: int  # games averaged for mean_return_last_window and solved_at
    mean_return_last_window: float | None
    mean_return_last_100: float | None
    solved_at: dict | None  # {"frames", "seconds", "episodes"} where run.stop_at_return was reached
    reached_target_at: dict | None  # the same for run.target_return's first crossing
    actor_restarts: int
    dropped_unrolls: int
    stale_dropped_unrolls: int
    skipped_updates: int  # train steps not applied: a non-finite loss, gradient or weights
    run_path: str  # the folder this run wrote to (<run.dir>/<name>, or <name>-N if that was taken)
    checkpoint: str  # the final weights file
    resumed_from_frames: int | None
    eval_returns: list  # {"frames", "mean", "returns"} per evaluation during training

    def to_dict(self) -> dict:
        return asdict(self)
