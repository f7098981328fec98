"""Training metrics: a progress line on stdout, rows in metrics.csv, scalars in TensorBoard."""

from __future__ import annotations

import csv
import math
import os


def format_duration(seconds: float) -> str:
    """1h02m, 4m05s, 12s; '?' when unknown (NaN)."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def format_progress(m: dict) -> str:
    ret = m.get("charts/mean_return_100", float("nan"))
    ret_s = "   n/a" if math.isnan(ret) else f"{ret:7.1f}"
    done = (
        f" ({m['charts/progress_pct']:.1f}%, {format_duration(m.get('time/remaining_s', math.nan))} left)"
        if "charts/progress_pct" in m
        else ""
    )
    return (
        f"[{m['time/elapsed_s']:7.1f}s] frames {int(m['charts/frames']):>11,}{done} | "
        f"{m['charts/fps']:8,.0f} fps | episodes {int(m['charts/episodes']):>6} | "
        f"return(100) {ret_s} | lag {m['actor/policy_lag_mean']:.1f}/{int(m['actor/policy_lag_max'])} | "
        f"queue {int(m['learner/queue_size'])}/{int(m['learner/queue_capacity'])} | "
        f"actors {int(m.get('learner/actors_alive', 0))} | "
        f"loss {m.get('losses/total', float('nan')):.4f}"
        + (f" | eps {m['actor/epsilon_mean']:.2f}" if "actor/epsilon_mean" in m else "")
        + (
            f" | stale dropped {int(m['learner/stale_dropped_unrolls'])}"
            if m.get("learner/stale_dropped_unrolls")
            else ""
        )
        + (f" | skipped {int(m['learner/skipped_updates'])}" if m.get("learner/skipped_updates") else "")
    )


class MetricsLogger:
    """Writes one row per call to `log`; the CSV columns are fixed by the first row.

    resume_frames: a resumed run appends to the existing metrics.csv (keeping its columns) after
    dropping the rows logged past the checkpoint it resumes from, and TensorBoard hides the
    events past it too, so each frame count is logged once.
    """

    def __init__(self, run_path: str, quiet: bool = False, resume_frames: int | None = None):
        self.path = os.path.join(run_path, "metrics.csv")
        self.quiet = quiet
        self._columns: list[str] | None = None
        if resume_frames is not None:
            self._columns = _truncate_csv(self.path, resume_frames)
        self._fh = open(self.path, "a", newline="")
        self._writer = None
        if self._columns:
            self._writer = csv.DictWriter(self._fh, fieldnames=self._columns, extrasaction="ignore")
        from tensorboardX import SummaryWriter

        purge = {"purge_step": resume_frames + 1} if resume_frames is not None else {}
        self._tb = SummaryWriter(run_path, flush_secs=10, **purge)

    def log(self, m: dict) -> None:
        if self._columns is None:
            self._columns = list(m)
            self._writer = csv.DictWriter(self._fh, fieldnames=self._columns, extrasaction="ignore")
            if self._fh.tell() == 0:
                self._writer.writeheader()
        self._writer.writerow({k: m.get(k, "") for k in self._columns})
        self._fh.flush()
        step = int(m["charts/frames"])
        for k, v in m.items():
            if k.startswith("eval/"):  # logged by `log_scalar` at the frames of the weights evaluated
                continue
            if "/" in k and isinstance(v, (int, float)) and math.isfinite(v):
                self._tb.add_scalar(k, v, step)
        if not self.quiet:
            print(format_progress(m), flush=True)

    def log_scalar(self, name: str, value: float, frames: int) -> None:
        """One TensorBoard scalar at its own step (e.g. an evaluation of older weights)."""
        if math.isfinite(value):
            self._tb.add_scalar(name, value, frames)

    def log_text(self, name: str, text: str, frames: int) -> None:
        """A TensorBoard text entry (e.g. the run's config), shown as preformatted text."""
        self._tb.add_text(name, "    " + text.replace("\n", "\n    "), frames)

    def close(self) -> None:
        self._tb.close()
        self._fh.close()


def _truncate_csv(path: str, frames: int) -> list[str] | None:
    """Keep the header and the whole rows of `path` up to `frames` (atomically); return the header's columns."""
    if not os.path.exists(path):
        return None
    with open(path, newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    if not lines:
        return None
    columns = next(csv.reader([lines[0]]))
    kept = [lines[0]]
    for line in lines[1:]:
        if not line.endswith("\n"):  # a row cut off by a crash mid-write
            break
        row = dict(zip(columns, next(csv.reader([line]))))
        try:
            if float(row.get("charts/frames", "nan")) <= frames:
                kept.append(line)
        except ValueError:
            continue
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        fh.writelines(kept)
    os.replace(tmp, path)
    return columns
