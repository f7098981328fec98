"""The actor loop's two seams: local and remote ends both satisfy `UnrollSink` and `WeightSource`.

mypy checks the method signatures (`common/transport/seams.py`); this checks the objects the
actor loop is really handed, at run time.
"""

from common.process import context
from common.transport import ExperienceQueue, UnrollSink, WeightBoard, WeightSource, unroll_fields
from common.transport.client import RemoteBoard, RemoteEnd

FIELDS = unroll_fields((4,), "float32", 2, T=3, E=2)


def test_local_ends_satisfy_the_seams():
    ctx = context()
    queue = ExperienceQueue(ctx, FIELDS, num_actors=1, slots=1)
    assert isinstance(queue.actor_end(0), UnrollSink)
    assert isinstance(WeightBoard(ctx, [(4,)]), WeightSource)


def test_remote_ends_satisfy_the_seams():
    assert isinstance(RemoteEnd.__new__(RemoteEnd), UnrollSink)
    assert isinstance(RemoteBoard.__new__(RemoteBoard), WeightSource)


def test_a_sink_without_put_is_not_a_sink():
    class NoPut:
        def views(self):
            return {}

        def acquire(self, timeout):
            return None

    assert not isinstance(NoPut(), UnrollSink)
