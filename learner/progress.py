"""A run's live progress, its periodic events, and the summary it ends with."""

from __future__ import annotations

import json
import math
import os
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
        """Where the run is now: frames, training seconds of the whole run (every leg), episodes."""
        return {"frames": self.frames, "seconds": self.elapsed_before_s + self.seconds(), "episodes": self.episodes}

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
    """The end of a run, written to summary.json: the run as a whole, and each leg (session) of it in `legs`."""

    outcome: str  # the last leg's: completed, solved, "stopped by SIGTERM", "error (...)"
    frames: int  # the run's, at its end
    updates: int
    episodes: int
    seconds: float  # training seconds of the whole run, every leg (metrics.csv's time/elapsed_s at the end)
    started_unix: float  # when the first leg in `legs` started
    first_update_seconds: float | None  # the first leg's seconds to its first update
    stop_window: int  # games averaged for mean_return_last_window and solved_at
    mean_return_last_window: float | None
    mean_return_last_100: float | None
    solved_at: dict | None  # {"frames", "seconds", "episodes"} where run.stop_at_return was reached
    reached_target_at: dict | None  # the same for run.target_return's first crossing, in whichever leg
    actor_restarts: int  # the sums over `legs`
    dropped_unrolls: int
    stale_dropped_unrolls: int
    skipped_updates: int  # train steps not applied: a non-finite loss, gradient or weights
    run_path: str  # the folder this run wrote to (<run.dir>/<name>, or <name>-N if that was taken)
    checkpoint: str  # the final weights file
    resumed_from_frames: int | None  # where the last leg started; None for a run of one leg
    eval_returns: list  # {"frames", "mean", "returns"} per evaluation during training, every leg's
    legs: list  # one dict per leg that wrote a summary, oldest first (LEG_FIELDS); a killed leg has none

    def to_dict(self) -> dict:
        return asdict(self)


# What summary.json records of each leg. `start_frames`: where it started; the rest as the same-named
# fields of Summary, for that leg alone (`seconds`: its own training time; `frames` etc.: at its end).
LEG_FIELDS = (
    "outcome",
    "started_unix",
    "seconds",
    "first_update_seconds",
    "start_frames",
    "frames",
    "updates",
    "episodes",
    "actor_restarts",
    "dropped_unrolls",
    "stale_dropped_unrolls",
    "skipped_updates",
)
SUMMED = ("actor_restarts", "dropped_unrolls", "stale_dropped_unrolls", "skipped_updates")


def read_summary(run_path: str) -> dict:
    """The run's summary.json as a dict; {} where there is none or it cannot be read."""
    try:
        with open(os.path.join(run_path, "summary.json")) as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def earlier_legs(previous: dict) -> list[dict]:
    """The legs a summary.json recorded; one written before legs were recorded is a single leg."""
    if not previous:
        return []
    if isinstance(previous.get("legs"), list):
        return [leg for leg in previous["legs"] if isinstance(leg, dict)]
    leg = {key: previous.get(key) for key in LEG_FIELDS}
    leg["start_frames"] = previous.get("resumed_from_frames") or 0
    return [leg]


def summarize(leg: dict, previous: dict, resumed: bool, run_seconds: float, evals: list, reached, at_end: dict):
    """The whole run's Summary: this `leg` (LEG_FIELDS) after those of `previous` (the summary.json of the run it
    resumed; {} for a new run). `evals`, `reached`: this leg's evaluations and target crossing, after the earlier
    legs' up to where this one started. `at_end`: the other Summary fields, read off the run at its end."""
    legs = earlier_legs(previous) + [leg]
    start = leg["start_frames"]
    earlier = [e for e in previous.get("eval_returns") or [] if isinstance(e, dict) and e.get("frames", 0) <= start]
    crossed = previous.get("reached_target_at")
    if isinstance(crossed, dict) and isinstance(crossed.get("frames"), int) and crossed["frames"] <= start:
        reached = crossed  # the first crossing was in an earlier leg
    return Summary(
        outcome=leg["outcome"],
        frames=leg["frames"],
        updates=leg["updates"],
        episodes=leg["episodes"],
        seconds=run_seconds,
        started_unix=legs[0].get("started_unix") or leg["started_unix"],
        first_update_seconds=legs[0].get("first_update_seconds"),
        reached_target_at=reached,
        resumed_from_frames=start if resumed else None,
        eval_returns=earlier + evals,
        legs=legs,
        **{key: sum(int(one.get(key) or 0) for one in legs) for key in SUMMED},
        **at_end,
    )
