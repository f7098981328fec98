"""Learning curves as a picture: return(100) and the greedy evaluations against frames or seconds.

    python -m learner.plot RUN [RUN ...] --out curves.png [--x seconds] [--title TEXT]
    asyncrl-plot RUN [RUN ...] --out curves.png

RUN is a run folder (it holds metrics.csv and config.json) or a folder of run folders (e.g. the
`--keep` folder of benchmarks/seed_sweep.py). Runs whose config.json differ only in `seed` and
`name` are one group: drawn as the mean over its runs with a band from the lowest to the highest
run; a group of one run is a plain line. Needs matplotlib: `pip install -e '.[plot]'`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from common.run_record import run_config
from common.shell import command, command_name

GRID_POINTS = 200  # x positions a group's runs are interpolated to before averaging


class PlotError(Exception):
    """Bad input (not a run folder, unreadable metrics): one line for the user."""


@dataclass
class Curve:
    """One run's curves; x arrays are keyed by axis ("frames" or "seconds")."""

    name: str
    run: str  # the run folder
    group_key: str  # config.json without seed, name and run.dir, as sorted JSON
    x: dict[str, np.ndarray]  # (n,) per axis, rows with a return(100)
    ret: np.ndarray  # (n,) return(100) of the actors' episodes
    eval_x: dict[str, np.ndarray]  # (m,) per axis
    eval_ret: np.ndarray  # (m,) greedy evaluation means


# ---------------------------------------------------------------- reading runs


def find_runs(paths: list[str]) -> list[str]:
    """Run folders named by `paths`, each a run folder or a folder holding run folders."""
    runs = []
    for path in paths:
        if os.path.isfile(os.path.join(path, "metrics.csv")):
            runs.append(path)
            continue
        inner = sorted(root for root, _, files in os.walk(path) if "metrics.csv" in files)
        if not inner:
            raise PlotError(f"{path} is not a run folder (no metrics.csv in it or below it)")
        runs.extend(inner)
    return runs


def _group_key(config: dict) -> str:
    """What makes runs "the same config": everything but the seed, the name and the run section
    (folders, log and checkpoint intervals, tracking), which does not change what is learned."""
    return json.dumps({k: v for k, v in config.items() if k not in ("seed", "name", "run")}, sort_keys=True)


def _column(rows: list[dict], key: str) -> np.ndarray:
    """(rows,) float64; blank cells NaN. ValueError for a cell that is not a number."""
    return np.array([float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows])


def load_curve(run: str) -> Curve:
    config_path = os.path.join(run, "config.json")
    try:
        with open(os.path.join(run, "metrics.csv"), newline="") as fh:
            rows = list(csv.DictReader(fh))
        config = run_config(run) if os.path.isfile(config_path) else {}  # with what later legs changed
    except (OSError, ValueError, csv.Error) as e:
        raise PlotError(f"cannot read run {run}: {e}") from e
    if not rows or "charts/frames" not in rows[0]:
        raise PlotError(f"{run}/metrics.csv has no rows with charts/frames")
    try:
        axes = {"frames": _column(rows, "charts/frames"), "seconds": _column(rows, "time/elapsed_s")}
        names = ("charts/mean_return_100", "eval/episodic_return", "eval/frames")
        ret, ev, ev_frames = (_column(rows, k) for k in names)
    except ValueError as e:
        raise PlotError(f"{run}/metrics.csv has a cell that is not a number ({e})") from None
    has_ret, has_ev = np.isfinite(ret), np.isfinite(ev)
    eval_x = {"frames": ev_frames[has_ev], "seconds": axes["seconds"][has_ev]}
    return Curve(
        name=config.get("name") or os.path.basename(os.path.normpath(run)),
        run=run,
        group_key=_group_key(config) if config else run,
        x={k: v[has_ret] for k, v in axes.items()},
        ret=ret[has_ret],
        eval_x=eval_x,
        eval_ret=ev[has_ev],
    )


def group_curves(curves: list[Curve]) -> list[list[Curve]]:
    """Curves of one config together, groups in the order their first run was named."""
    groups: dict[str, list[Curve]] = {}
    for c in curves:
        groups.setdefault(c.group_key, []).append(c)
    return list(groups.values())


# ---------------------------------------------------------------- the math


def mean_band(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, lowest and highest of several curves on the x range all of them cover.

    xs[i], ys[i]: (n_i,) one curve, x increasing. Returns grid (g,), mean (g,), low (g,), high (g,);
    empty arrays when the curves share no x range.
    """
    empty = np.array([])
    if not xs or any(len(x) == 0 for x in xs):
        return empty, empty, empty, empty
    lo, hi = max(x[0] for x in xs), min(x[-1] for x in xs)
    if lo > hi:
        return empty, empty, empty, empty
    grid = np.linspace(lo, hi, GRID_POINTS) if hi > lo else np.array([lo])
    stacked = np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys)])  # (runs, g)
    return grid, stacked.mean(axis=0), stacked.min(axis=0), stacked.max(axis=0)


# ---------------------------------------------------------------- drawing


def _draw(ax, group: list[Curve], xs: list, ys: list, colour, label: str, marker: str | None) -> None:
    if len(group) == 1:
        ax.plot(xs[0], ys[0], color=colour, label=label, marker=marker, markersize=4)
        return
    grid, mean, low, high = mean_band(xs, ys)
    if len(grid):
        ax.plot(grid, mean, color=colour, label=f"{label}: mean of {len(group)} runs, band min-max")
        ax.fill_between(grid, low, high, color=colour, alpha=0.2, linewidth=0)


def labels(groups: list[list[Curve]]) -> list[str]:
    """A group's config name, or its first run's last two path parts where two groups share a name."""
    names = [g[0].name for g in groups]
    tail = [os.path.join(*os.path.normpath(g[0].run).split(os.sep)[-2:]) for g in groups]
    return [t if names.count(n) > 1 else n for n, t in zip(names, tail)]


def _frames_formatter(value: float, _pos) -> str:
    return f"{value / 1e6:g}M" if abs(value) >= 1e6 else f"{value / 1e3:g}k" if value else "0"


def plot(curves: list[Curve], out: str, x_axis: str = "frames", title: str | None = None) -> None:
    """Writes the picture: return(100) on the left, greedy evaluations on the right (if any run has them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    groups = group_curves(curves)
    with_eval = any(len(c.eval_ret) for c in curves)
    fig, axes = plt.subplots(1, 2 if with_eval else 1, figsize=(12 if with_eval else 7, 4.5), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (group, label) in enumerate(zip(groups, labels(groups))):
        colour = colours[i % len(colours)]
        _draw(axes[0][0], group, [c.x[x_axis] for c in group], [c.ret for c in group], colour, label, None)
        if with_eval:
            ev = [c for c in group if len(c.eval_ret)] or group
            _draw(axes[0][1], ev, [c.eval_x[x_axis] for c in ev], [c.eval_ret for c in ev], colour, label, "o")
    titles = ["return(100), training episodes", "greedy evaluation (mean of its games)"]
    for ax, text in zip(axes[0], titles):
        ax.set_title(text)
        ax.set_xlabel("emulator frames" if x_axis == "frames" else "seconds")
        if x_axis == "frames":
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_frames_formatter))
        ax.set_ylabel("return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- command line


@command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=command_name("learner.plot"), description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder, or a folder of run folders")
    p.add_argument("--out", default="curves.png", help="picture to write: .png, .svg or .pdf (default: curves.png)")
    p.add_argument("--x", dest="x_axis", choices=["frames", "seconds"], default="frames")
    p.add_argument("--title", help="a title above the panels")
    args = p.parse_args(argv)
    if not args.out.lower().endswith((".png", ".svg", ".pdf")):
        print(f"error: --out: a .png, .svg or .pdf file, got {args.out!r}", file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("error: plotting needs matplotlib: pip install -e '.[plot]' (or pip install matplotlib)", file=sys.stderr)
        return 2
    try:
        curves = [load_curve(run) for run in find_runs(args.runs)]
        plot(curves, args.out, args.x_axis, args.title)
    except PlotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {args.out}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({len(curves)} run(s) in {len(group_curves(curves))} line(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
