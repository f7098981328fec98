"""benchmarks/atari_row.py: the results row's reference bar, the metrics row it reads, the row's cells."""

import importlib.util
import os
import shlex

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("atari_row", os.path.join(ROOT, "benchmarks", "atari_row.py"))
atari_row = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(atari_row)


def test_quarter_bar_is_a_quarter_of_the_gap_to_the_paper():
    assert atari_row.game_of("ALE/Breakout-v5") == "Breakout"
    random, paper, bar = atari_row.quarter_bar("Breakout", lstm=False)
    assert (random, paper) == (1.7, 551.6) and bar == pytest.approx(1.7 + (551.6 - 1.7) / 4)
    assert atari_row.quarter_bar("Pong", lstm=True)[2] == pytest.approx(-20.7 + (10.7 + 20.7) / 4)
    with pytest.raises(SystemExit):
        atari_row.quarter_bar("Seaquest", lstm=False)


def _metrics(tmp_path, rows):
    path = tmp_path / "metrics.csv"
    lines = ["time/elapsed_s,charts/frames,charts/mean_return_100"] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_metrics_at_takes_the_last_row_at_or_before_the_checkpoint(tmp_path):
    path = _metrics(tmp_path, [(10.0, 500_000, ""), (20.0, 1_000_000, -20.5), (31.5, 1_500_000, -19.0)])
    assert atari_row.metrics_at(path, None) == {"frames": 1_500_000, "seconds": 31.5, "return_100": -19.0}
    assert atari_row.metrics_at(path, 1_200_000)["frames"] == 1_000_000
    assert atari_row.metrics_at(path, 600_000)["return_100"] is None  # no game had ended: an empty cell
    with pytest.raises(SystemExit):
        atari_row.metrics_at(path, 100)


def test_row_names_the_share_of_the_budget_and_the_verdict():
    cfg = {"name": "breakout_a3c", "algorithm": "a3c", "env": {"id": "ALE/Breakout-v5"}, "model": {"core": "none"}}
    at = {"frames": 10_000_000, "seconds": 3 * 3600 + 5 * 60, "return_100": 120.25}
    line, numbers = atari_row.row(
        cfg, at, {"mean": 150.0, "n": 30}, "/x/docs/img/b.png", 40_000_000, "2 CPU cores", "cmd", "breakout_a3c"
    )
    assert "10.0M (25% of its 40M budget)" in line and "3 h 05 min" in line and "120.2" in line
    assert "| A3C FF |" in line and "**works**" in line and "(img/b.png)" in line and numbers["works"]
    line, numbers = atari_row.row(cfg, at, {"mean": 100.0, "n": 30}, None, 10_000_000, "2 CPU cores", "cmd", "b_x")
    assert "its whole budget" in line and "does not reach" in line and not numbers["works"]
    assert "[`b_x.yaml`](../configs/b_x.yaml)" in line and numbers["preset"] == "b_x"  # the preset, not the run's name
    line, _ = atari_row.row({**cfg, "algorithm": "appo"}, at, {"mean": 1.0, "n": 30}, None, 1, "2 CPU cores", "c", "b")
    assert "| APPO |" in line


def test_the_command_sets_what_the_run_changed_from_the_preset():
    from common.config import from_dict, load, parse_override, to_dict

    cfg = to_dict(load(os.path.join(ROOT, "configs", "pong_qnstep.yaml")))
    assert atari_row.overrides_from_preset(cfg, "pong_qnstep") == []
    cfg["name"] = "pong_qnstep_screen"  # a run named on the command line: where it writes, not what it learns
    cfg["learner"]["batch_unrolls"] = 7  # the preset has another B
    cfg["model"].pop("center_frames")  # a run from before the field existed: its default (the preset: true)
    cfg["run"]["dir"] = "/elsewhere"
    cfg["run"]["stop_at_frames"] = 10_000_000
    cfg["run"]["track"] = True  # where it logs, not what it learns
    cfg["actor"]["epsilon_finals"] = [0.2, 0.02, 0.4]
    flags = atari_row.overrides_from_preset(cfg, "pong_qnstep")
    assert flags == [
        "--set model.center_frames=false",
        "--set 'actor.epsilon_finals=[0.2,0.02,0.4]'",  # quoted: brackets are a shell glob
        "--set learner.batch_unrolls=7",
        "--set run.stop_at_frames=10000000",
    ]
    overrides = dict(parse_override(shlex.split(f)[1]) for f in flags)  # the flags read back as the run's config
    rebuilt = atari_row._leaves(to_dict(load(os.path.join(ROOT, "configs", "pong_qnstep.yaml"), overrides)))
    run = atari_row._leaves(to_dict(from_dict(cfg)))
    assert {k: v for k, v in rebuilt.items() if k not in atari_row.NOT_THE_EXPERIMENT} == {
        k: v for k, v in run.items() if k not in atari_row.NOT_THE_EXPERIMENT
    }
