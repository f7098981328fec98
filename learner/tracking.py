"""Optional experiment tracking: a run's config and every TensorBoard scalar, to Weights & Biases.

`run.track` (the `--track` flag) starts a wandb run before the TensorBoard writer is made, with
wandb's TensorBoard sync on, as CleanRL does: whatever the learner writes to TensorBoard (every
metrics.csv column, the per-episode returns and lengths, the evaluations) reaches W&B with no
second logging path. The wandb run's id is kept in the run folder, so `--resume` continues the
same W&B run. wandb is an optional dependency (`pip install -e '.[track]'`).
"""

from __future__ import annotations

import os
import uuid

from common.config import Config, ConfigError, to_dict

ID_FILE = "wandb_id"  # in the run folder: the W&B run a resumed run continues


class Tracker:
    """A started wandb run (or nothing, when tracking is off); `finish()` uploads or closes it."""

    def __init__(self, run=None):
        self._run = run

    def finish(self, exit_code: int = 0) -> None:
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None


def run_id(run_path: str) -> str:
    """The W&B id of this run folder's run, made on first use."""
    path = os.path.join(run_path, ID_FILE)
    if os.path.exists(path):
        with open(path) as fh:
            return fh.read().strip()
    new = uuid.uuid4().hex[:12]
    with open(path, "w") as fh:
        fh.write(new + "\n")
    return new


def check_available(cfg: Config) -> None:
    """ConfigError (one line) if `cfg` asks for tracking and wandb is not installed."""
    if cfg.run.track:
        try:
            import tensorboard  # noqa: F401  wandb's TensorBoard sync reads the event files with it
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("run.track: Weights & Biases is not installed: pip install -e '.[track]'") from None


def start_tracking(cfg: Config, run_path: str) -> Tracker:
    """A Tracker for `cfg`; must run before the TensorBoard writer is created (wandb patches it). It writes
    only under `run_path` (the run's wandb_id and wandb/ folder)."""
    if not cfg.run.track:
        return Tracker()
    check_available(cfg)
    import wandb

    try:
        run = wandb.init(
            project=cfg.run.wandb_project,
            name=os.path.basename(os.path.normpath(run_path)),
            id=run_id(run_path),
            resume="allow",
            dir=run_path,
            config=to_dict(cfg),
            sync_tensorboard=True,
        )
    except Exception as exc:  # no login, no network, a missing piece: one line, before any actor starts
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"run.track: Weights & Biases did not start: {first}") from None
    return Tracker(run)
