"""The actor-critic loss math, re-exported where the tests have always imported it; it lives in
`common.algorithms.actor_critic.loss` (and `common.algorithms.returns`)."""

from common.algorithms.actor_critic.loss import a3c_loss_fn, vtrace_fn
from common.algorithms.returns import nstep_returns_fn

__all__ = ["a3c_loss_fn", "nstep_returns_fn", "vtrace_fn"]
