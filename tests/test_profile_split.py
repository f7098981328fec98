"""benchmarks/profile_split.py's bookkeeping: stacks to categories, thread CPU to shares."""

import os
import sys
from collections import Counter

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import profile_split as ps

LEARNER_STACK = "main (learner/__main__.py:141);train_loop (learner/train.py:335);_publish (learner/train.py:118)"
ACTOR_STACK = "run (actor/loop.py:90);Unroller._step (actor/loop.py:76);AtariVectorEnv.step (ale_py/vector_env.py:212)"


def test_a_stack_goes_to_the_first_category_one_of_its_frames_names():
    assert ps.classify(LEARNER_STACK) == "publishing weights"
    assert ps.classify(ACTOR_STACK) == "env stepping"  # not "batching and copies", though actor/loop.py is in it
    assert ps.classify("select (selectors.py:415)") == "other Python"


def test_parse_raw_adds_the_counts_of_each_category():
    raw = f"{LEARNER_STACK} 7\n{ACTOR_STACK} 3\n{ACTOR_STACK};ale (x.py:1) 2\nnot a sample line\n"
    assert ps.parse_raw(raw) == Counter({"publishing weights": 7, "env stepping": 5})


def test_breakdown_splits_a_process_cpu_into_xla_python_and_native_threads():
    cpu = {"total": 10.0, "xla": 6.0, "main": 2.0}  # CPU seconds in a 20 s window
    samples = Counter({"env stepping": 100, "policy inference (main thread)": 100})  # at 100 samples/s: 1 s each
    out = ps.breakdown("actor", cpu, samples, rate=100, seconds=20.0)
    assert out["cpu_cores"] == 0.5 and out["main_thread_waiting"] == 0.9
    assert out["share_of_cpu"] == pytest.approx(
        {
            "policy inference (XLA)": 0.6,
            "env stepping (ALE threads)": 0.2,
            "env stepping": 0.1,
            "policy inference (main thread)": 0.1,
        }
    )
    assert list(out["share_of_cpu"])[0] == "policy inference (XLA)"  # largest first


def test_cpu_split_counts_only_the_window_and_names_xla_threads():
    before = {10: ("python", 100), 11: ("tf_XLAEigen", 50)}
    after = {10: ("python", 300), 11: ("tf_XLAEigen", 450), 12: ("python", 100)}  # 12 started in the window
    tick = ps.TICK
    assert ps.cpu_split(10, before, after) == pytest.approx(
        {"total": 700 / tick, "xla": 400 / tick, "main": 200 / tick}
    )
