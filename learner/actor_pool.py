"""Starts the local actor processes, restarts any that die, stops them all at the end."""

from __future__ import annotations

import os
import time

from common import config as config_lib
from common.config import Config
from common.process import SINGLE_THREAD_ENV, StopFlag, context, derive_seed, get_logger, spawn, stop_processes
from common.transport import ExperienceQueue, WeightBoard

log = get_logger("learner")

ACTOR_ENTRY = "actor.loop:main_entry"  # by name: learner never imports actor
MAX_RESTARTS_PER_MINUTE = 5
STARTUP_GRACE_S = 120.0  # the least time an actor gets for its first unroll before it counts as hung
MAX_DEATHS_BEFORE_FIRST_UNROLL = 3  # in a row: the actor cannot even start (bad env, bug, OOM at start)


class ActorCrashLoop(RuntimeError):
    """An actor keeps dying right after start; restarting it again would only spin."""


class ActorPool:
    def __init__(self, cfg: Config, exp_queue: ExperienceQueue, board: WeightBoard, seed_base: int = 0):
        self.cfg = cfg
        self.cfg_dict = config_lib.to_dict(cfg)
        self.exp_queue = exp_queue
        self.board = board
        self.stop_flag = StopFlag(context())
        self.procs: list = [None] * cfg.actor.count
        self.restarts = 0
        self.seed_base = seed_base  # a resumed run starts here so its actors do not replay the first run's seeds
        self._recent: list[list[float]] = [[] for _ in range(cfg.actor.count)]
        self._puts_at_start = [0] * cfg.actor.count
        self._early_deaths = [0] * cfg.actor.count
        self._last_puts = [0] * cfg.actor.count
        self._last_progress = [0.0] * cfg.actor.count  # when it last handed over an unroll or had every slot queued

    def _seed(self, actor_id: int, incarnation: int) -> int:
        return derive_seed(self.cfg.seed, "actor", actor_id, incarnation + self.seed_base)

    def next_seed_base(self) -> int:
        """The seed base a run resumed from now must use: past every incarnation used so far."""
        return self.seed_base + self.restarts + 1

    def _start(self, actor_id: int, incarnation: int = 0) -> None:
        end = self.exp_queue.actor_end(actor_id)
        self._puts_at_start[actor_id] = self._last_puts[actor_id] = self.exp_queue.puts(actor_id)
        self._last_progress[actor_id] = time.monotonic()
        args = (
            actor_id,
            self.cfg_dict,
            end,
            self.board,
            self.stop_flag,
            self._seed(actor_id, incarnation),
            os.getpid(),
        )
        self.procs[actor_id] = spawn(ACTOR_ENTRY, args, env=SINGLE_THREAD_ENV, name=f"actor-{actor_id}")

    def start(self) -> None:
        for i in range(len(self.procs)):
            self._start(i)

    def check(self) -> None:
        """Restart dead and hung actors (saying so); raise ActorCrashLoop if one keeps dying."""
        if self.stop_flag.is_set():
            return
        for i, proc in enumerate(self.procs):
            if proc is None:
                continue
            if proc.is_alive():
                silent = self._silent_for(i)
                if silent is None:
                    continue
                log.warning(
                    f"actor {i} (pid {proc.pid}) handed over nothing for {silent:.0f}s with a free slot: "
                    "hung; killing it"
                )
                proc.kill()
                proc.join(timeout=5.0)
                why = "was hung"
            else:
                why = f"died with exit code {proc.exitcode}"
            self._replace(i, proc, why)

    def _silent_for(self, i: int) -> float | None:
        """Seconds actor `i` has been hung for, or None while it is making progress: it handed over an
        unroll, or every one of its slots waits for the learner (then it is blocked, not hung)."""
        now, puts = time.monotonic(), self.exp_queue.puts(i)
        if puts != self._last_puts[i] or self.exp_queue.queued(i) >= self.cfg.actor.queue_slots:
            self._last_puts[i], self._last_progress[i] = puts, now
            return None
        limit = self.cfg.actor.hung_timeout_s
        if puts == self._puts_at_start[i]:  # still starting: imports and compiles, slower on a loaded machine
            limit = max(3 * limit, STARTUP_GRACE_S)
        silent = now - self._last_progress[i]
        return silent if silent > limit else None

    def _replace(self, i: int, proc, why: str) -> None:
        now = time.monotonic()
        recent = [t for t in self._recent[i] if now - t < 60.0] + [now]
        self._recent[i] = recent
        log.info(f"actor {i} (pid {proc.pid}) {why}; starting a new one")
        early = self.exp_queue.puts(i) == self._puts_at_start[i]
        self._early_deaths[i] = self._early_deaths[i] + 1 if early else 0
        if len(recent) > MAX_RESTARTS_PER_MINUTE:
            raise ActorCrashLoop(f"actor {i} died {len(recent)} times within a minute; see its error output above")
        if self._early_deaths[i] >= MAX_DEATHS_BEFORE_FIRST_UNROLL:
            raise ActorCrashLoop(
                f"actor {i} died {self._early_deaths[i]} times in a row before sending its first unroll; "
                "see its error output above"
            )
        self.restarts += 1
        proc.join(timeout=0)
        self._start(i, incarnation=self.restarts)

    def alive(self) -> int:
        return sum(1 for p in self.procs if p is not None and p.is_alive())

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every actor to stop, then terminate and finally kill stragglers. No child survives.

        An actor that has handed over no unroll yet is killed at once: it is still importing JAX, building
        its model or compiling (seconds, during which it does not look at the stop flag), and has nothing
        to lose."""
        self.stop_flag.set()
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.is_alive() and self.exp_queue.puts(i) == self._puts_at_start[i]:
                proc.kill()
        stop_processes(self.procs, deadline_s=timeout)
