"""Epsilon-greedy exploration of the value methods (Mnih et al. 2016, section 8 and Algorithm S1).

Each env of each actor draws its own final epsilon once, seeded by (run seed, actor id), so a
restarted actor and a re-run draw the same. In the paper each actor thread plays one env with one
final epsilon; here an actor process steps E envs, and each stands for one of those threads, so
a run of 2 actors x 8 envs explores with 16 draws, not 2 (with 2 draws, both often 0.1 or both
0.5, a seed's data had little spread; benchmarks/RESULTS.md). Epsilon then falls linearly from 1
to that value over the first `anneal_frames` frames the learner has trained on (the paper's
shared frame counter; the actor reads it from its weights' version, so a restarted actor picks
up where the run is).
"""

from __future__ import annotations

import numpy as np


def draw_final_epsilons(finals, probs, seed: int, actor_id: int, num_envs: int) -> np.ndarray:
    """[num_envs] float32: one final epsilon per env of this actor."""
    rng = np.random.default_rng([seed, actor_id, 0xE95])
    p = np.asarray(probs, np.float64)
    draws = rng.choice(np.asarray(finals, np.float64), size=num_envs, p=p / p.sum())  # config allows 1e-6 rounding
    return draws.astype(np.float32)


def epsilon_at(frames: float, final, anneal_frames: int, start: float = 1.0):
    """Linear from `start` at frame 0 to `final` (a number, or an array of them) at `anneal_frames`, constant after."""
    frac = min(max(frames, 0) / anneal_frames, 1.0)
    return start + frac * (final - start)


def epsilon_schedule(cfg, actor_id: int, frames_per_step: int):
    """version -> epsilons [E] of this actor's envs, for an algorithm that explores with epsilon (the learner's
    frames at a policy version come from its `UpdateSchedule`); None for one that samples from its policy."""
    from common import algorithms

    algo = algorithms.get(cfg)
    if not algo.uses_epsilon:
        return None
    final = draw_final_epsilons(cfg.actor.epsilon_finals, cfg.actor.epsilon_probs, cfg.seed, actor_id, cfg.env.num_envs)
    schedule = algo.schedule(cfg, frames_per_step)
    return lambda version: epsilon_at(schedule.frames_at(version), final, cfg.actor.epsilon_anneal_frames)
