"""How unrolls travel from actors to the learner, and weights back.

- `schema`: the unroll layout and its validation (shared by every transport);
- `local`: the shared-memory experience queue and weight board between processes on one host;
- `wire`: the TCP message format (a JSON header plus raw array bytes; nothing is unpickled);
- `server`: the learner's side of remote actors; `client`: the remote actor's side;
- `seams`: `UnrollSink` and `WeightSource`, the protocols an actor loop writes to and reads from.

The transport imports neither `actor` nor `learner`. The names used across the project are
re-exported here.
"""

from common.transport.local import ActorEnd, ExperienceQueue, WeightBoard, poll_for_weights
from common.transport.schema import MAY_BE_NAN, unroll_fields, validate_unroll
from common.transport.seams import UnrollSink, WeightSource

__all__ = [
    "MAY_BE_NAN",
    "ActorEnd",
    "ExperienceQueue",
    "UnrollSink",
    "WeightBoard",
    "WeightSource",
    "poll_for_weights",
    "unroll_fields",
    "validate_unroll",
]
