"""The learning tests' config: a preset as `make train` runs it, judged once on one seed.

Each learning test's seed passed its repeats (benchmarks/RESULTS.md): 5 of 5, 3 of 3 for A3C-LSTM.
"""

from __future__ import annotations

import os

from common import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def learning_config(tmp_path, name: str, seed: int = 0, **overrides):
    """`configs/<name>.yaml` with 2 actors, `seed`, and a run folder of its own for each seed."""
    return config_lib.load(
        os.path.join(ROOT, "configs", f"{name}.yaml"),
        {"run.dir": str(tmp_path / f"seed{seed}"), "seed": seed, "actor.count": 2, **overrides},
    )
