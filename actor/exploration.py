"""Epsilon-greedy exploration of the value methods (Mnih et al. 2016, section 8 and Algorithm S1).

Each actor draws its own final epsilon once, seeded by (run seed, actor id), so a
restarted actor and a re-run draw the same; epsilon then falls linearly from 1 to
that value over the first `anneal_frames` frames the learner has trained on (the
paper's shared frame counter; the actor reads it from its weights' version, so a
restarted actor picks up where the run is).
"""

from __future__ import annotations

import numpy as np


def draw_final_epsilon(finals, probs, seed: int, actor_id: int) -> float:
    rng = np.random.default_rng([seed, actor_id, 0xE95])
    p = np.asarray(probs, np.float64)
    return float(rng.choice(np.asarray(finals, np.float64), p=p / p.sum()))  # config allows a 1e-6 rounding


def epsilon_at(frames: float, final: float, anneal_frames: int, start: float = 1.0) -> float:
    """Linear from `start` at frame 0 to `final` at `anneal_frames`, constant after."""
    frac = min(max(frames, 0) / anneal_frames, 1.0)
    return start + frac * (final - start)


def epsilon_schedule(cfg, actor_id: int, frames_per_step: int):
    """version -> epsilon for this actor of a value-method run (the learner's frames are its version x the
    frames per update); None for a3c, which samples from its policy instead."""
    from common.config import frames_per_update, is_value_method

    if not is_value_method(cfg.algorithm):
        return None
    final = draw_final_epsilon(cfg.actor.epsilon_finals, cfg.actor.epsilon_probs, cfg.seed, actor_id)
    update_frames = frames_per_update(cfg, frames_per_step)
    return lambda version: epsilon_at(version * update_frames, final, cfg.actor.epsilon_anneal_frames)
