"""benchmarks/curve_csv.py: which rows and columns a thinned learning curve keeps."""

import csv
import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("curve_csv", os.path.join(ROOT, "benchmarks", "curve_csv.py"))
curve_csv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(curve_csv)


def _write_metrics(run_dir, rows):
    header = "time/elapsed_s,charts/frames,charts/mean_return_100,losses/total,eval/episodic_return"
    lines = [header] + [",".join(map(str, r)) for r in rows]
    (run_dir / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_keeps_one_row_per_interval_every_eval_and_the_last(tmp_path):
    # (elapsed, frames, return(100), loss, eval): frames 0..950k every 50k, an eval at 400k.
    rows = [(i, i * 50_000, -21 + i * 0.1, 0.5, 3.0 if i == 8 else "nan") for i in range(20)]
    _write_metrics(tmp_path, rows)
    out = tmp_path / "curve.csv"
    assert curve_csv.write_curve(str(tmp_path), str(out), every=250_000) == 6
    with open(out, newline="") as f:
        kept = list(csv.DictReader(f))
    assert [int(r["frames"]) for r in kept] == [0, 250_000, 400_000, 500_000, 750_000, 950_000]
    # Columns outside COLUMNS (losses/total) are dropped; a missing eval is an empty cell.
    assert list(kept[0]) == ["frames", "elapsed_s", "mean_return_100", "eval_episodic_return"]
    assert kept[2]["eval_episodic_return"] == "3.0" and kept[1]["eval_episodic_return"] == ""


def test_a_gap_in_the_log_keeps_the_next_row_once(tmp_path):
    _write_metrics(tmp_path, [(0, 0, 0, 0, "nan"), (1, 900_000, 0, 0, "nan"), (2, 950_000, 0, 0, "nan")])
    out = tmp_path / "curve.csv"
    assert curve_csv.write_curve(str(tmp_path), str(out), every=250_000) == 3
