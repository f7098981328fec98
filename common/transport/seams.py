"""The two seams an actor loop depends on, as structural types that local and remote ends both satisfy.

`actor.loop.run_actor` writes unrolls into an `UnrollSink` and takes weights from a
`WeightSource`; it cannot tell shared memory (`local.ActorEnd`, `local.WeightBoard`)
from TCP (`client.RemoteEnd`, `client.RemoteBoard`). mypy checks the four against
these protocols (`_conforming` below); `tests/test_transport_seams.py` checks them at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

Weights = tuple[int, list[np.ndarray]]  # (version, arrays in the weight board's layout)


@runtime_checkable
class UnrollSink(Protocol):
    """Unroll slots an actor writes in place and hands over one by one."""

    def views(self) -> dict[str, np.ndarray]:
        """field -> [slots, ...] arrays; an actor writes slot `i` through `views()[field][i]`."""
        ...

    def acquire(self, timeout: float) -> int | None:
        """A free slot index, or None if none came free within `timeout` seconds (the learner is behind)."""
        ...

    def put(self, slot: int, version: int) -> None:
        """Hand the written `slot` to the learner; `version`: the policy version that made it."""
        ...


@runtime_checkable
class WeightSource(Protocol):
    """Versioned weights published by the learner."""

    def fetch(self, have_version: int) -> Weights | None:
        """(version, arrays) if a version newer than `have_version` exists, else None, without waiting."""
        ...

    def wait(self, have_version: int, timeout: float, should_stop: Callable[[], bool] = ...) -> Weights | None:
        """Block until a version newer than `have_version` exists; None on timeout or when `should_stop()`."""
        ...


if TYPE_CHECKING:
    from common.transport.client import RemoteBoard, RemoteEnd
    from common.transport.local import ActorEnd, WeightBoard

    def _conforming(
        a: ActorEnd, b: WeightBoard, ra: RemoteEnd, rb: RemoteBoard
    ) -> tuple[UnrollSink, WeightSource, UnrollSink, WeightSource]:
        return a, b, ra, rb  # mypy fails here if an end stops matching its protocol
