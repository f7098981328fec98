"""The value methods' loss math, re-exported where the tests have always imported it; it lives in
`common.algorithms.value.loss`."""

from common.algorithms.value.loss import q1_targets_fn, q_loss_fn, qnstep_targets_fn, sarsa_targets_fn

__all__ = ["q1_targets_fn", "q_loss_fn", "qnstep_targets_fn", "sarsa_targets_fn"]
