"""The jitted train step: Keras `stateless_call` + `jax.value_and_grad` + the optimizer's `stateless_apply`.

One step shape for every algorithm (`common.algorithms`); what differs is the algorithm's: the loss of a
chunk of env streams (`Algorithm.make_chunk_loss`), its optimizer, whether it keeps a target network,
and how many optimizer steps a batch gives (`Algorithm.epochs_and_minibatches`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras

from common import algorithms
from common.algorithms.forward import make_sequence_forward
from common.config import LearnerConfig
from common.model import is_recurrent

make_a3c_forward = make_sequence_forward  # the name tests/test_lstm.py imports


class TrainState(NamedTuple):
    trainable: list  # model.trainable_variables values
    non_trainable: list  # model.non_trainable_variables values
    optimizer: list  # optimizer.variables values (iterations, RMS accumulators)
    target: list  # the target network's trainable values (`Algorithm.uses_target_network`); [] without one


def make_lr_schedule(cfg: LearnerConfig, total_steps: int):
    """Learning rate as a function of the optimizer's step count: linear to 0 over `total_steps` if annealed
    (`UpdateSchedule.optimizer_steps` of the run's batches, so over frames it runs the same whatever the
    optimizer steps per batch)."""
    if not cfg.anneal_lr:
        return lambda step: cfg.learning_rate
    return keras.optimizers.schedules.PolynomialDecay(
        cfg.learning_rate, decay_steps=max(total_steps, 1), end_learning_rate=0.0, power=1.0
    )


def make_entropy_schedule(cfg: LearnerConfig, total_frames: int, update_frames: int):
    """Entropy weight as a function of the update (batch) count, each update of `update_frames` frames: linear
    to `entropy_coef_final` (if set) over `entropy_anneal_frames` (default: the whole budget), constant after;
    `entropy_coef` throughout if unset."""
    start, end = cfg.entropy_coef, cfg.entropy_coef_final
    if end is None:
        return lambda step: start
    anneal_updates = max(total_updates_for(cfg.entropy_anneal_frames or total_frames, update_frames), 1)
    return lambda step: start + (end - start) * min(step / anneal_updates, 1.0)


def make_optimizer(
    cfg: LearnerConfig, lr_schedule, algorithm: str | algorithms.Algorithm = "a3c"
) -> keras.optimizers.Optimizer:
    """The algorithm's optimizer (`Algorithm.make_optimizer`; RMSprop with the paper's settings for all five
    today), driven by `lr_schedule` (from `make_lr_schedule`)."""
    return algorithms.get(algorithm).make_optimizer(cfg, lr_schedule)


def total_updates_for(total_frames: int, frames_per_update: int) -> int:
    return math.ceil(total_frames / frames_per_update)


def init_state(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    with_target: bool = False,
    initial_mean_square: float = 0.0,
) -> TrainState:
    """The functional state of a new run; RMSprop's mean squares start at `initial_mean_square`."""
    optimizer.build(model.trainable_variables)
    for v in optimizer.variables if isinstance(optimizer, keras.optimizers.RMSprop) else []:
        if v.path.endswith("_velocity"):  # RMSprop's running mean of squared gradients, one per weight
            v.assign(jnp.full(v.shape, initial_mean_square, v.dtype))
    trainable = [v.value for v in model.trainable_variables]
    return TrainState(
        trainable,
        [v.value for v in model.non_trainable_variables],
        [v.value for v in optimizer.variables],
        copy_weights(trainable) if with_target else [],
    )


def copy_weights(values: list) -> list:
    """Fresh buffers (the train step donates its inputs, so a target must never alias the online weights)."""
    return [jnp.array(v, copy=True) for v in values]


def update_target(state: TrainState) -> TrainState:
    """Target network <- online weights (`Algorithm.uses_target_network`, every `learner.target_update_frames`)."""
    return state._replace(target=copy_weights(state.trainable))


def write_back(state: TrainState, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
    """Copy the functional state into the Keras objects (before saving weights)."""
    for var, val in zip(model.trainable_variables, state.trainable):
        var.assign(val)
    for var, val in zip(model.non_trainable_variables, state.non_trainable):
        var.assign(val)
    for var, val in zip(optimizer.variables, state.optimizer):
        var.assign(val)


def streams_per_chunk(num_envs: int, unroll_length: int, microbatch_samples: int) -> int:
    """Env streams per gradient chunk: the largest divisor of E whose (T+1)-step samples fit the target."""
    if microbatch_samples <= 0:
        return num_envs
    fits = [c for c in range(1, num_envs + 1) if num_envs % c == 0 and c * (unroll_length + 1) <= microbatch_samples]
    return max(fits, default=1)


def make_chunk_loss(model: keras.Model, cfg: LearnerConfig, algorithm: str | algorithms.Algorithm):
    """(trainable, non_trainable, target, chunk) -> (loss, (metrics, non_trainable)) for one chunk: the
    algorithm's (`Algorithm.make_chunk_loss`, which documents `chunk`)."""
    return algorithms.get(algorithm).make_chunk_loss(model, cfg)


def keep_if_finite(old: TrainState, new: TrainState, loss, grad_norm) -> tuple[TrainState, jax.Array]:
    """(`new` if the loss, the gradient and every new weight are finite, else `old`; applied? as a bool scalar).

    One overflowing batch must not reach the weights: NaN weights would be published to every actor
    and checkpointed. Traced inside the train step; the caller counts the skipped updates.
    """
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    for w in new.trainable + new.optimizer:
        if jnp.issubdtype(w.dtype, jnp.floating):
            finite = finite & jnp.all(jnp.isfinite(w))

    def pick(a, b):
        return [jnp.where(finite, x, y) for x, y in zip(a, b)]

    kept = TrainState(
        pick(new.trainable, old.trainable),
        pick(new.non_trainable, old.non_trainable),
        pick(new.optimizer, old.optimizer),
        new.target,
    )
    return kept, finite


def minibatch_parts(chunks: list, minibatches: int) -> list[list]:
    """`chunks` in `minibatches` contiguous parts of (nearly) equal size; ValueError if some part is empty."""
    n = len(chunks)
    if not 1 <= minibatches <= n:
        raise ValueError(f"{minibatches} minibatches of a batch of {n} chunks of env streams: one chunk at least each")
    return [chunks[i * n // minibatches : (i + 1) * n // minibatches] for i in range(minibatches)]


def make_gradient(model: keras.Model, cfg: LearnerConfig, algo: algorithms.Algorithm, c: int):
    """(state, batch, chunks, entropy_coef) -> (gradient, summed loss, metrics, non_trainable): the mean
    gradient and metrics over `chunks`, each (b, e): env streams e..e+c-1 of unroll b of `batch` [B, ...]."""
    grad_fn = jax.value_and_grad(algo.make_chunk_loss(model, cfg), has_aux=True)
    timed = ("obs", "actions", "rewards", "dones", "behaviour_logits")  # fields [B, T(+1), E, ...]
    per_stream = algo.loss_stream_fields + (("core_h", "core_c") if is_recurrent(model) else ())  # [B, E, ...]

    def gradient(state: TrainState, batch, chunks, entropy_coef):
        non_trainable, grads, metrics, loss = state.non_trainable, None, None, 0.0
        for b, e in chunks:
            chunk = {k: batch[k][b, :, e : e + c] for k in timed}
            chunk.update({k: batch[k][b, e : e + c] for k in per_stream})
            chunk["entropy_coef"] = entropy_coef
            (chunk_loss, (m, non_trainable)), g = grad_fn(state.trainable, non_trainable, state.target, chunk)
            loss = loss + chunk_loss
            grads = g if grads is None else [a + x for a, x in zip(grads, g)]
            metrics = m if metrics is None else {k: metrics[k] + m[k] for k in m}
        n = len(chunks)
        return [g / n for g in grads], loss, {k: v / n for k, v in metrics.items()}, non_trainable

    return gradient


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    cfg: LearnerConfig,
    num_envs: int,
    unroll_length: int,
    algorithm: str | algorithms.Algorithm = "a3c",
):
    """Jitted (state, batch, entropy_coef) -> (state, metrics). `batch` fields are [B, T(+1), E, ...] (see
    transport); `entropy_coef` is this update's entropy weight (a3c; `make_entropy_schedule`), a traced scalar.

    A batch gives the algorithm's optimizer steps (`Algorithm.epochs_and_minibatches`: `epochs` passes, each
    over `minibatches` parts of whole env streams; one step on the whole batch for all five today). A step's
    gradient is the mean of the gradients of chunks of whole env streams (each chunk's loss is its own mean
    over T x streams, and all chunks have the same size, so this equals the gradient of the part's mean). The
    chunks are unrolled in the jitted function: XLA's CPU convolution gradients are about twice as fast per
    sample on ~40-sample pieces that stay in cache as on the full batch (benchmarks/RESULTS.md); a `lax.scan`
    over chunks is much slower. metrics: the mean over the batch's steps.
    """
    algo = algorithms.get(algorithm)
    epochs, minibatches = algo.epochs_and_minibatches(cfg)
    c = streams_per_chunk(num_envs, unroll_length, cfg.microbatch_samples)
    gradient = make_gradient(model, cfg, algo, c)

    def optimizer_step(state: TrainState, batch, chunks, entropy_coef):
        grads, loss, metrics, non_trainable = gradient(state, batch, chunks, entropy_coef)
        trainable, opt_vars = optimizer.stateless_apply(state.optimizer, grads, state.trainable)
        grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
        metrics["losses/grad_norm"] = grad_norm
        new = TrainState(trainable, non_trainable, opt_vars, state.target)
        new, applied = keep_if_finite(state, new, loss, grad_norm)
        metrics["learner/skipped_update"] = 1.0 - applied.astype(jnp.float32)
        return new, metrics

    def train_step(state: TrainState, batch, entropy_coef=cfg.entropy_coef):
        B, E = batch["actions"].shape[0], batch["actions"].shape[2]
        parts = minibatch_parts([(b, e) for b in range(B) for e in range(0, E, c)], minibatches)
        steps = []
        for _ in range(epochs):
            for chunks in parts:
                state, metrics = optimizer_step(state, batch, chunks, entropy_coef)
                steps.append(metrics)
        return state, {k: sum(m[k] for m in steps) / len(steps) for k in steps[0]}

    return jax.jit(train_step, donate_argnums=(0,))
