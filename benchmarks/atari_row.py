"""One row of docs/results.md for a trained Atari run, and its learning-curve picture.

    python benchmarks/atari_row.py RUN_DIR --machine "2 CPU cores, no GPU" --png docs/img/breakout_a3c_curve.png
    python benchmarks/atari_row.py RUN_DIR --machine "2 CPU cores, no GPU" --checkpoint 10000000

Reads the run's config.json and metrics.csv, scores the checkpoint (default: the newest,
`latest.weights.h5`) greedily with `python -m actor.evaluate --protocol training --seed 0`,
draws the curve with `python -m learner.plot`, and prints the Markdown row: preset, algorithm,
frames trained (and the share of the budget), training wall time and machine (`--machine`),
return(100) at that point, the greedy score against the game's two reference scores, whether it
clears docs/results.md's rule (beat the random policy by a quarter of the gap to the A3C paper's
score), and the command: the preset plus a `--set` for every setting where the run's config.json
differs from today's preset. Also writes the row's numbers as JSON (`--json`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # common.config, when run as a script

# game: (random policy under no-op starts, A3C FF 1 day, A3C LSTM). Sources and transcription checks:
# benchmarks/RESULTS.md, "Reference scores for the Atari results table".
REFERENCE = {
    "Pong": (-20.7, 11.4, 10.7),
    "Breakout": (1.7, 551.6, 766.8),
    "SpaceInvaders": (148.0, 2214.7, 23846.0),
}


# the method column; any other algorithm is A3C FF or A3C LSTM
METHOD = {"q_1step": "1-step Q", "sarsa_1step": "1-step Sarsa", "q_nstep": "n-step Q", "appo": "APPO"}


def game_of(env_id: str) -> str:
    """'ALE/Breakout-v5' -> 'Breakout'."""
    return env_id.split("/")[-1].split("-")[0]


def quarter_bar(game: str, lstm: bool) -> tuple[float, float, float]:
    """(random score, paper score, the score a preset must beat): random + (paper - random) / 4. The
    LSTM presets are judged against A3C LSTM, every other preset against A3C FF 1 day."""
    if game not in REFERENCE:
        raise SystemExit(f"error: no reference scores for {game} (known: {', '.join(REFERENCE)})")
    random, ff, lstm_score = REFERENCE[game]
    paper = lstm_score if lstm else ff
    return random, paper, random + (paper - random) / 4


def metrics_at(path: str, frames: int | None) -> dict:
    """The last metrics.csv row at or before `frames` (None: the last row): its frames, training seconds
    (time/elapsed_s, which counts across --resume legs) and return(100) (None where the cell is empty:
    no game had ended yet)."""
    best = None
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            f = int(float(row["charts/frames"]))
            if frames is None or f <= frames:
                best = row
    if best is None:
        raise SystemExit(f"error: {path} has no row at or before {frames} frames")
    ret = best.get("charts/mean_return_100") or ""
    return {
        "frames": int(float(best["charts/frames"])),
        "seconds": float(best["time/elapsed_s"]),
        "return_100": float(ret) if ret not in ("", "nan") else None,
    }


def hours_minutes(seconds: float) -> str:
    m = round(seconds / 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def score(run: str, weights: str, episodes: int) -> dict:
    """Greedy games in the run's own env (actor.evaluate's `training` protocol), as its JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "scores.json")
        cmd = [sys.executable, "-m", "actor.evaluate", weights, "--config", os.path.join(run, "config.json")]
        cmd += ["--episodes", str(episodes), "--protocol", "training", "--seed", "0", "--json", out]
        subprocess.run(cmd, cwd=ROOT, check=True)
        with open(out) as fh:
            return json.load(fh)


def _leaves(tree: dict) -> dict:
    """{'learner.learning_rate': 0.0007, ...} for a nested config dict (`common.run_record.leaves`)."""
    from common.run_record import leaves

    return leaves(tree)


# Settings that change where a run writes, logs or listens, not what it learns: left out of the command.
NOT_THE_EXPERIMENT = {
    "name",
    "run.dir",
    "run.log_interval_seconds",
    "run.checkpoint_interval_frames",
    "run.keep_checkpoints",
    "run.track",
    "run.wandb_project",
    "remote.host",
    "remote.port",
    "remote.max_actors",
}


def changed_settings(cfg: dict, preset_name: str) -> dict:
    """{dotted key: the run's value} for every setting of the run's config dict that differs from today's
    `configs/<preset_name>.yaml`, NOT_THE_EXPERIMENT left out."""
    from common.config import from_dict, load, to_dict

    preset = _leaves(to_dict(load(os.path.join(ROOT, "configs", f"{preset_name}.yaml"))))
    run = _leaves(to_dict(from_dict(cfg)))
    return {k: v for k, v in run.items() if k not in NOT_THE_EXPERIMENT and v != preset.get(k)}


def overrides_from_preset(cfg: dict, preset_name: str) -> list[str]:
    """The `--set key=value` flags (shell-quoted) that turn today's `configs/<preset_name>.yaml` into the
    run's config.json, so the row's command reproduces the run even after the preset has changed."""
    return [f"--set {shlex.quote(f'{k}={_yaml_value(v)}')}" for k, v in changed_settings(cfg, preset_name).items()]


def _yaml_value(value) -> str:
    """A config value as `--set` reads it back: true/false, null, [a,b] for lists and tuples."""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), separators=(",", ":"))
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def row(
    cfg: dict, at: dict, scores: dict, png: str | None, budget: int, machine: str, command: str, preset: str
) -> tuple[str, dict]:
    game, lstm = game_of(cfg["env"]["id"]), cfg["model"].get("core") == "lstm"
    random, paper, bar = quarter_bar(game, lstm)
    works = scores["mean"] >= bar  # "beats random by at least a quarter of the gap"
    share = (
        "its whole budget" if at["frames"] >= budget else f"{at['frames'] / budget:.0%} of its {budget / 1e6:g}M budget"
    )
    verdict = "**works**" if works else "**does not reach a quarter of the way**"
    ref = f"random {random:g}, A3C {'LSTM' if lstm else 'FF'} {paper:g} (a quarter of the way: {bar:.1f})"
    ret = f"{at['return_100']:.1f}" if at["return_100"] is not None else "n/a"
    cells = [
        f"[`{preset}.yaml`](../configs/{preset}.yaml)",
        METHOD.get(cfg["algorithm"], "A3C LSTM" if lstm else "A3C FF"),
        f"{at['frames'] / 1e6:.1f}M ({share})",
        f"{hours_minutes(at['seconds'])} of training, {machine}",
        ret,
        f"**{scores['mean']:.1f}** (`training`, {scores['n']} games); {ref}: {verdict}",
        f"[PNG](img/{os.path.basename(png)})" if png else "",
        f"`{command}`",
    ]
    numbers = {"preset": preset, **at, "greedy_mean": scores["mean"], "greedy_n": scores["n"], "bar": bar}
    return "| " + " | ".join(cells) + " |", {**numbers, "works": works}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder (config.json, metrics.csv, checkpoints/)")
    p.add_argument("--checkpoint", type=int, help="score the checkpoint of this many frames (default: latest)")
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--png", help="also draw the run's curve here (python -m learner.plot)")
    p.add_argument("--json", help="also write the row's numbers here")
    p.add_argument("--preset", help="the preset the run trained, configs/PRESET.yaml (default: the run's name)")
    p.add_argument(
        "--machine",
        required=True,
        help="the machine the run trained on, as the row names it, e.g. '2 CPU cores (AMD EPYC), no GPU'",
    )
    args = p.parse_args(argv)
    args.run = os.path.abspath(args.run)  # the subprocesses below run in the repository root
    args.png = os.path.abspath(args.png) if args.png else None

    from common.run_record import run_config

    cfg = run_config(args.run)  # config.json with what the run's later legs changed: the settings it ended with
    ckpt = f"{args.checkpoint}.weights.h5" if args.checkpoint else "latest.weights.h5"
    weights = os.path.join(args.run, "checkpoints", ckpt)
    if not os.path.isfile(weights):
        raise SystemExit(f"error: no checkpoint {weights}")
    at = metrics_at(os.path.join(args.run, "metrics.csv"), args.checkpoint)
    preset = args.preset or cfg["name"]
    if not os.path.isfile(os.path.join(ROOT, "configs", f"{preset}.yaml")):
        raise SystemExit(f"error: no configs/{preset}.yaml (name the run's preset with --preset)")
    command = " ".join([f"python -m learner --config configs/{preset}.yaml", *overrides_from_preset(cfg, preset)])
    scores = score(args.run, weights, args.episodes)
    if args.png:
        subprocess.run([sys.executable, "-m", "learner.plot", args.run, "--out", args.png], cwd=ROOT, check=True)
    line, numbers = row(cfg, at, scores, args.png, int(cfg["total_frames"]), args.machine, command, preset)
    print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(numbers, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
