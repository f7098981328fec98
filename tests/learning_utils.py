"""One rule for the learning tests: a run that misses its bar trains once more, with the next seed.

Why: with asynchronous actors, a run's outcome depends on process timing (which unroll the learner
draws next, how stale each actor's weights are) as well as on its seed, so the same config lands on
either side of a bar from run to run. On 2 cores, a fresh clone's `make test` once saw A3C on CartPole
settle at 285 (greedy) for its whole 2M frames, and 1-step Q at 189 against the bar of 195, while the
same tests passed in the run before and after. A broken learner misses the bar with every seed, so
the test still fails; one that learns only now and then fails often enough to be seen. Every attempt's
report is printed, so the log keeps a miss that a second seed made up for.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from common import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = (0, 1)


def learning_config(tmp_path, name: str, seed: int, **overrides):
    """`configs/<name>.yaml` with 2 actors, `seed`, and a run folder of its own for each seed."""
    return config_lib.load(
        os.path.join(ROOT, "configs", f"{name}.yaml"),
        {"run.dir": str(tmp_path / f"seed{seed}"), "seed": seed, "actor.count": 2, **overrides},
    )


def passes_with_some_seed(attempt: Callable[[int], tuple[bool, str]], seeds=SEEDS) -> None:
    """Call `attempt(seed)` -> (passed, report) for each seed in turn until one passes; fail with every report."""
    reports = []
    for seed in seeds:
        passed, report = attempt(seed)
        print(f"seed {seed}: {'passed' if passed else 'missed'}: {report}")
        if passed:
            return
        reports.append(f"seed {seed}: {report}")
    pytest.fail(f"missed the bar with every seed {list(seeds)}:\n" + "\n".join(reports))
