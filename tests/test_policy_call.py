"""benchmarks/policy_call.py: an actor's policy call, its dispatch alone and its env step, per agent step."""

import json
import subprocess
import sys

import pytest
from proc_utils import ROOT


def test_splits_the_policy_call_into_model_and_dispatch(tmp_path):
    out = tmp_path / "call.json"
    cmd = [sys.executable, "benchmarks/policy_call.py", "--config", "configs/smoke_cartpole.yaml"]
    run = subprocess.run(
        cmd + ["--set", "env.num_envs=3", "--calls", "20", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["num_envs"] == 3 and result["calls"] == 20 and result["overrides"] == ["env.num_envs=3"]
    for name in ("policy", "dispatch_only", "weights_load", "env_step"):
        assert result[f"{name}_cpu_ms"] > 0 and result[f"{name}_wall_ms"] > 0, name
    model_ms = result["policy_cpu_ms"] - result["dispatch_only_cpu_ms"]
    assert result["model_cpu_ms"] == pytest.approx(model_ms, abs=0.002)  # each figure rounded to 0.001
    assert json.loads(run.stdout.strip().splitlines()[-1]) == result


def test_refuses_no_calls():
    cmd = [sys.executable, "benchmarks/policy_call.py", "--calls", "0"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--calls must be at least 1" in run.stderr
