"""The algorithm registry: the one place that maps the config's `algorithm` name to its object.

    from common import algorithms
    algo = algorithms.get(cfg)          # a Config, a name ("q_nstep") or an Algorithm
    algo.uses_epsilon, algo.heads, ...  # ask it; never compare the name

One folder per family defines its algorithms (`actor_critic/`, `value/`, `appo/`) and their loss math;
`base.py` is the interface they implement. A3C-LSTM and V-trace are A3C with `model.core: lstm`
and `learner.correction: vtrace`. How to add an algorithm: docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

from common.algorithms.actor_critic import A3C
from common.algorithms.appo import APPO
from common.algorithms.base import Algorithm, UpdateSchedule
from common.algorithms.value import Q_1STEP, Q_NSTEP, SARSA_1STEP
from common.config import ConfigError

_REGISTRY: dict[str, Algorithm] = {algo.name: algo for algo in (A3C, Q_1STEP, SARSA_1STEP, Q_NSTEP, APPO)}
NAMES: tuple[str, ...] = tuple(_REGISTRY)  # the config's allowed `algorithm` values, in this order


def get(cfg_or_name: Any) -> Algorithm:
    """The algorithm of a Config (its `algorithm`), of a name, or an Algorithm itself; ConfigError, one line,
    for a name that is not registered."""
    if isinstance(cfg_or_name, Algorithm):
        return cfg_or_name
    name = cfg_or_name if isinstance(cfg_or_name, str) else getattr(cfg_or_name, "algorithm", cfg_or_name)
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"algorithm: {name!r} is not one of {', '.join(NAMES)}") from None


__all__ = ["NAMES", "Algorithm", "UpdateSchedule", "get"]
