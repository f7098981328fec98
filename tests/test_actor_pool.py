import time

import pytest

from common import config as config_lib
from common.process import context
from common.transport import ExperienceQueue, WeightBoard, unroll_fields
from learner import actor_pool
from learner.actor_pool import ActorCrashLoop, ActorPool


def test_actor_that_never_starts_is_reported_not_restarted_forever(monkeypatch, capsys):
    monkeypatch.setattr(actor_pool, "ACTOR_ENTRY", "transport_helpers:crash")
    cfg = config_lib.load(None, {"actor.count": 1})
    ctx = context()
    q = ExperienceQueue(ctx, unroll_fields((4,), "float32", 2, T=2, E=1), 1, 1)
    pool = ActorPool(cfg, q, WeightBoard(ctx, [(2,)]))
    pool.start()
    deadline = time.monotonic() + 60
    try:
        with pytest.raises(ActorCrashLoop, match="before sending its first unroll"):
            while time.monotonic() < deadline:
                pool.check()
                time.sleep(0.05)
    finally:
        pool.stop()
    assert pool.restarts == 2
    assert "died with exit code 3; starting a new one" in capsys.readouterr().out
    assert pool.alive() == 0
