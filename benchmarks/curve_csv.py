"""A run's learning curve, thinned to a small CSV for the lab log (benchmarks/results/curves/).

    python benchmarks/curve_csv.py RUN_DIR benchmarks/results/curves/pong_q1step_2f3ad4c.csv

Run folders do not outlive the machine they trained on; this keeps what RESULTS.md cites. From
the run's metrics.csv it keeps the first row at or past every `--every` frames, the last row,
and every row with a greedy evaluation; and of the columns, those in COLUMNS that the run logs
(the algorithms log different ones), renamed to their short names.
"""

from __future__ import annotations

import argparse
import csv
import math
import os

# metrics.csv column -> short name in the curve; the first two are always present.
COLUMNS = {
    "charts/frames": "frames",
    "time/elapsed_s": "elapsed_s",
    "charts/mean_return_100": "mean_return_100",
    "losses/entropy": "entropy",
    "actor/epsilon_mean": "epsilon_mean",
    "losses/mean_q": "mean_q",
    "losses/grad_norm": "grad_norm",
    "learner/learning_rate": "learning_rate",
    "eval/frames": "eval_frames",
    "eval/episodic_return": "eval_episodic_return",
}


def _has_eval(row: dict[str, str]) -> bool:
    return math.isfinite(float(row.get("eval/episodic_return") or "nan"))  # blank and nan cells: no eval


def thin(rows: list[dict[str, str]], every: int) -> list[dict[str, str]]:
    """The rows a curve keeps: one per `every` frames, the last one, and every evaluation."""
    kept, next_mark = [], 0
    for i, row in enumerate(rows):
        frames = int(float(row["charts/frames"]))
        if frames >= next_mark or _has_eval(row) or i == len(rows) - 1:
            kept.append(row)
        while frames >= next_mark:
            next_mark += every
    return kept


def write_curve(run_dir: str, out: str, every: int) -> int:
    """Write the thinned curve to `out`; returns the number of rows written."""
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        reader = csv.DictReader(f)
        columns = [c for c in COLUMNS if c in (reader.fieldnames or [])]
        rows = thin(list(reader), every)
    with open(out, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([COLUMNS[c] for c in columns])
        for row in rows:
            writer.writerow(["" if row[c] == "nan" else row[c] for c in columns])
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder (metrics.csv)")
    parser.add_argument("out", help="CSV to write")
    parser.add_argument("--every", type=int, default=250_000, help="frames between kept rows")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.run, "metrics.csv")):
        parser.error(f"{args.run} has no metrics.csv: is it a run folder?")
    print(f"{write_curve(args.run, args.out, args.every)} rows -> {args.out}")


if __name__ == "__main__":
    main()
