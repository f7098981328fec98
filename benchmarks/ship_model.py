"""Ship a finished run as models/<preset>/: its final weights, its config as the preset's, its metrics.csv.

    python benchmarks/ship_model.py RUN_DIR --preset pong_appo

Copies RUN_DIR/checkpoints/latest.weights.h5 to models/<preset>/<preset>.weights.h5 and RUN_DIR/metrics.csv
beside it, and writes config.json: the preset's config, once the run's equals it but for the settings that only say
where and how long one session ran (`run.stop_at_frames` and `atari_row.NOT_THE_EXPERIMENT`: name,
run.dir, logging). It refuses, changing nothing, when the run is not the preset's own uninterrupted run:
a setting that differs from configs/<preset>.yaml, a resume that changed a setting, or a metrics.csv that
stops short of the budget. The model's README.md is written by hand (score, timing, how it was trained).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # common.config, benchmarks.*, when run as a script

from benchmarks.atari_row import NOT_THE_EXPERIMENT, changed_settings  # noqa: E402
from benchmarks.time_to_score import read_rows  # noqa: E402

WHOLE_BUDGET = 0.99  # the last metrics row's frames, as a share of total_frames, that count as the whole run


class ShipError(ValueError):
    """The run cannot be shipped as the preset's model; one line for the user."""


def _preset_path(preset: str) -> str:
    return os.path.join(ROOT, "configs", f"{preset}.yaml")


def shipped_config(run_dir: str, preset: str):
    """The Config to write as models/<preset>/config.json: the preset's own, once the run is shown to be
    its run (every setting but NOT_THE_EXPERIMENT and the session's stop frame the same, with every
    resume's changes applied and no resume changing one); ShipError otherwise."""
    from common import config as config_lib
    from common.run_record import resumes, run_config

    session_only = NOT_THE_EXPERIMENT | {"run.stop_at_frames"}
    for leg in resumes(run_dir):
        changed = sorted(k for k in leg["changes"] if k not in session_only)
        if changed:
            raise ShipError(f"{run_dir}: a resume changed {', '.join(changed)}; not one uninterrupted run")
    differ = sorted(k for k in changed_settings(run_config(run_dir), preset) if k not in session_only)
    if differ:
        raise ShipError(f"{run_dir}: differs from configs/{preset}.yaml in {', '.join(differ)}")
    return config_lib.load(_preset_path(preset))


def check_whole_budget(run_dir: str, total_frames: int) -> None:
    """ShipError if metrics.csv's last row stops short of the budget."""
    rows = read_rows(os.path.join(run_dir, "metrics.csv"))
    frames = int(rows[-1]["charts/frames"]) if rows else 0
    if frames < WHOLE_BUDGET * total_frames:
        raise ShipError(f"{run_dir}: metrics.csv ends at {frames:,} frames of a {total_frames:,}-frame budget")


def ship(run_dir: str, preset: str, models_dir: str) -> str:
    """Writes models_dir/<preset>/ from the run; returns that folder."""
    from common import config as config_lib

    weights = os.path.join(run_dir, "checkpoints", "latest.weights.h5")
    if not os.path.isfile(weights):
        raise ShipError(f"{run_dir}: no checkpoints/latest.weights.h5")
    cfg = shipped_config(run_dir, preset)
    check_whole_budget(run_dir, cfg.total_frames)
    out = os.path.join(models_dir, preset)
    os.makedirs(out, exist_ok=True)
    shutil.copyfile(weights, os.path.join(out, f"{preset}.weights.h5"))
    shutil.copyfile(os.path.join(run_dir, "metrics.csv"), os.path.join(out, "metrics.csv"))
    config_lib.save(cfg, os.path.join(out, "config.json"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="the finished run folder (config.json, metrics.csv, checkpoints/)")
    p.add_argument("--preset", required=True, help="the preset's name: configs/<preset>.yaml, models/<preset>/")
    p.add_argument("--models-dir", default=os.path.join(ROOT, "models"))
    args = p.parse_args(argv)
    if not os.path.isfile(_preset_path(args.preset)):
        p.error(f"--preset: no configs/{args.preset}.yaml")
    try:
        out = ship(args.run_dir, args.preset, args.models_dir)
    except (ShipError, OSError, ValueError) as exc:
        print(f"ship_model: {exc}", file=sys.stderr)
        return 1
    print(f"ship_model: wrote {out}/ (weights, config.json, metrics.csv); write its README.md by hand")
    return 0


if __name__ == "__main__":
    sys.exit(main())
