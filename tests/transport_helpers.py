"""Child-process bodies for test_transport (imported by name in spawned processes)."""

import time


def producer(end, counter, n):
    """Write `n` unrolls, each tagged with its index as rewards and version."""
    for i in range(n):
        slot = None
        while slot is None:
            slot = end.acquire(timeout=0.1)
        end.views()["rewards"][slot][:] = i
        end.put(slot, i)
        with counter.get_lock():
            counter.value += 1


def board_writer(board, n):
    """Publish versions 1..n, about one per millisecond; every array is filled with its version."""
    import numpy as np

    for v in range(1, n + 1):
        board.publish(v, [np.full(s, v, np.float32) for s in board.shapes])
        time.sleep(0.0005)


def board_reader(board, have, out_q):
    got = board.wait(have, timeout=20.0)
    out_q.put(None if got is None else (got[0], [a.sum().item() for a in got[1]]))
    time.sleep(0.1)


def crash(*args):
    """An actor body that dies at once, as a broken actor would."""
    raise SystemExit(3)
