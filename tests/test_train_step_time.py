"""benchmarks/train_step_time.py: times the preset's own train step on a batch of its shape."""

import json
import subprocess
import sys

from proc_utils import ROOT


def test_times_the_configs_train_step_and_reports_its_optimizer_steps(tmp_path):
    out = tmp_path / "step.json"
    appo = ["--set", "algorithm=appo", "--set", "learner.optimizer=adam", "--set", "learner.epochs=2"]
    cmd = [sys.executable, "benchmarks/train_step_time.py", "--config", "configs/smoke_cartpole.yaml", *appo]
    run = subprocess.run(
        cmd + ["--repeats", "2", "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["algorithm"] == "appo" and result["optimizer_steps_per_batch"] == 2
    assert result["samples_per_batch"] == 1 * 10 * 4  # B x T x E of the smoke config
    assert 0 < result["best_ms"] <= result["median_ms"] and result["samples_per_s"] > 0
    assert json.loads(run.stdout.strip().splitlines()[-1]) == result


def test_refuses_no_repeats():
    cmd = [sys.executable, "benchmarks/train_step_time.py", "--repeats", "0"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--repeats must be at least 1" in run.stderr
