"""Training metrics: a progress line on stdout, rows in metrics.csv, scalars in TensorBoard."""

from __future__ import annotations

import csv
import math
import os
import sys


def format_progress(m: dict) -> str:
    ret = m.get("charts/mean_return_100", float("nan"))
    ret_s = "   n/a" if math.isnan(ret) else f"{ret:7.1f}"
    return (
        f"[{m['time/elapsed_s']:7.1f}s] frames {int(m['charts/frames']):>11,} | "
        f"{m['charts/fps']:8,.0f} fps | episodes {int(m['charts/episodes']):>6} | "
        f"return(100) {ret_s} | lag {m['actor/policy_lag_mean']:.1f}/{int(m['actor/policy_lag_max'])} | "
        f"queue {int(m['learner/queue_size'])}/{int(m['learner/queue_capacity'])} | "
        f"actors {int(m.get('learner/actors_alive', 0))} | "
        f"loss {m.get('losses/total', float('nan')):.4f}"
        + (f" | eps {m['actor/epsilon_mean']:.2f}" if "actor/epsilon_mean" in m else "")
    )


class MetricsLogger:
    """Writes one row per call to `log`; the CSV columns are fixed by the first row."""

    def __init__(self, run_path: str, quiet: bool = False):
        self.path = os.path.join(run_path, "metrics.csv")
        self.quiet = quiet
        self._fh = open(self.path, "a", newline="")
        self._writer = None
        self._columns: list[str] | None = None
        from tensorboardX import SummaryWriter

        self._tb = SummaryWriter(run_path, flush_secs=10)

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
            if "/" in k and isinstance(v, (int, float)) and math.isfinite(v):
                self._tb.add_scalar(k, v, step)
        if not self.quiet:
            print(format_progress(m), flush=True)

    def close(self) -> None:
        self._tb.close()
        self._fh.close()


def log_line(text: str) -> None:
    print(f"[learner] {text}", file=sys.stdout, flush=True)
