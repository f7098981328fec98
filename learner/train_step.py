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
    """Learning rate as a function of the optimizer's step count: linear to `learning_rate_final` over
    `total_steps` if annealed, constant after (`UpdateSchedule.optimizer_steps` of the run's batches, so over
    frames it runs the same whatever the optimizer steps per batch)."""
    if not cfg.anneal_lr:
        return lambda step: cfg.learning_rate
    return keras.optimizers.schedules.PolynomialDecay(
        cfg.learning_rate, decay_steps=max(total_steps, 1), end_learning_rate=cfg.learning_rate_final, power=1.0
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
    """The algorithm's optimizer (`Algorithm.make_optimizer`: `learner.optimizer`, RMSprop with the paper's
    settings by default, or Adam), driven by `lr_schedule` (from `make_lr_schedule`)."""
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


TIMED_FIELDS = ("obs", "actions", "rewards", "dones", "behaviour_logits")  # batch fields [B, T(+1), E, ...]


def minibatch_indices(n_rows: int, minibatches: int, key):
    """A random split of n_rows env streams into equal minibatches -> int32 [minibatches, n_rows // minibatches].

    Rows are whole unrolls (the N axis of `[T, N]` arrays): a minibatch takes some env streams
    with all their time steps, never part of an unroll, because V-trace runs along time.
    Every row appears exactly once. key: a `jax.random` key.
    """
    if minibatches < 1 or n_rows < 1:
        raise ValueError(f"n_rows ({n_rows}) and minibatches ({minibatches}) must be at least 1")
    if n_rows % minibatches:
        raise ValueError(f"n_rows ({n_rows}) is not divisible by minibatches ({minibatches})")
    permutation = jax.random.permutation(key, n_rows).astype(jnp.int32)
    return permutation.reshape(minibatches, n_rows // minibatches)


def epoch_minibatches(seed: int, iterations, epoch: int, n_streams: int, minibatches: int):
    """The minibatches of one epoch -> int32 [minibatches, n_streams // minibatches], streams numbered b * E + e:
    a fresh random split for every epoch (`epoch` of the batch whose first optimizer step is `iterations`), the
    same again in a resumed run (the optimizer's iterations are in its checkpoint)."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), iterations), epoch)
    return minibatch_indices(n_streams, minibatches, key)


def slice_chunks(batch, timed, per_stream, c: int) -> list[dict]:
    """The batch's env streams in order, c at a time: streams e..e+c-1 of unroll b, time-major (timed fields
    [T(+1), c, ...], per-stream fields [c, ...])."""
    B, E = batch["actions"].shape[0], batch["actions"].shape[2]
    chunks = []
    for b in range(B):
        for e in range(0, E, c):
            chunk = {k: batch[k][b, :, e : e + c] for k in timed}
            chunk.update({k: batch[k][b, e : e + c] for k in per_stream})
            chunks.append(chunk)
    return chunks


def gather_chunk(batch, timed, per_stream, streams) -> dict:
    """The env streams `streams` (int [c], numbered b * E + e) of `batch`, time-major: timed fields
    [T(+1), c, ...], per-stream fields [c, ...]."""
    E = batch["actions"].shape[2]
    b, e = streams // E, streams % E
    chunk = {k: jnp.swapaxes(batch[k][b, :, e], 0, 1) for k in timed}  # [c, T(+1), ...] -> [T(+1), c, ...]
    chunk.update({k: batch[k][b, e] for k in per_stream})
    return chunk


def combine_metrics(metrics: list[dict]) -> dict:
    """One dict of scalars from several (chunks' or optimizer steps'): the largest of each `*_max`, the mean of
    the rest."""
    return {
        k: jnp.max(jnp.stack([m[k] for m in metrics]))
        if k.endswith("_max")
        else sum(m[k] for m in metrics) / len(metrics)
        for k in metrics[0]
    }


def make_gradient(model: keras.Model, cfg: LearnerConfig, algo: algorithms.Algorithm):
    """(state, chunks) -> (gradient, summed loss, metrics, non_trainable): the mean gradient and combined
    metrics over `chunks` (each a chunk of the algorithm's loss; all of one size)."""
    grad_fn = jax.value_and_grad(algo.make_chunk_loss(model, cfg), has_aux=True)

    def gradient(state: TrainState, chunks: list[dict]):
        non_trainable, grads, metrics, loss = state.non_trainable, None, [], 0.0
        for chunk in chunks:
            (chunk_loss, (m, non_trainable)), g = grad_fn(state.trainable, non_trainable, state.target, chunk)
            loss = loss + chunk_loss
            grads = g if grads is None else [a + x for a, x in zip(grads, g)]
            metrics.append(m)
        return [g / len(chunks) for g in grads], loss, combine_metrics(metrics), non_trainable

    return gradient


def make_prologue(model: keras.Model, cfg: LearnerConfig, algo: algorithms.Algorithm, c: int, per_stream: tuple):
    """(state, batch) -> (fields, scalars): what the algorithm's loss needs from the weights before the batch's
    first optimizer step (`Algorithm.make_batch_prologue`), over the batch's chunks of c streams: its fields
    joined into batch fields [B, T, E], its scalars averaged over the chunks (all of one size). Without a
    prologue: nothing."""
    body = algo.make_batch_prologue(model, cfg)

    def join(parts: list, B: int):
        """Per-chunk fields [T, c], in `slice_chunks` order -> [B, T, E]."""
        n = len(parts) // B
        return jnp.stack([jnp.concatenate(parts[b * n : (b + 1) * n], axis=1) for b in range(B)])

    def prologue(state: TrainState, batch):
        if body is None:
            return {}, {}
        chunks = slice_chunks(batch, TIMED_FIELDS, per_stream, c)
        fields, means = zip(*[body(state.trainable, state.non_trainable, chunk) for chunk in chunks])
        joined = {k: join([f[k] for f in fields], batch["actions"].shape[0]) for k in fields[0]}
        scalars = {k: sum(m[k] for m in means) / len(means) for k in means[0]}
        return jax.lax.stop_gradient(joined), jax.lax.stop_gradient(scalars)

    return prologue


def make_train_step(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    cfg: LearnerConfig,
    num_envs: int,
    unroll_length: int,
    algorithm: str | algorithms.Algorithm = "a3c",
    seed: int = 0,
):
    """Jitted (state, batch, entropy_coef) -> (state, metrics) (a `SteppedTrainStep` where a batch gives several
    optimizer steps). `batch` fields are [B, T(+1), E, ...] (see transport); `entropy_coef` is this update's
    entropy weight (`make_entropy_schedule`), a traced scalar.

    A batch gives the algorithm's optimizer steps (`Algorithm.epochs_and_minibatches`: `epochs` passes, each
    over `minibatches` parts of whole env streams, a fresh random split every pass drawn from `seed`
    (`epoch_minibatches`); one step on the whole batch for the paper's five). Before them, the algorithm's
    prologue reads the pre-update weights once (`make_prologue`). A step's gradient is the mean of the
    gradients of chunks of whole env streams (each chunk's loss is its own mean over T x streams, and all
    chunks have the same size, so this equals the gradient of the part's mean). The chunks are unrolled in the
    jitted function: XLA's CPU convolution gradients are about twice as fast per sample on ~40-sample pieces
    that stay in cache as on the full batch (benchmarks/RESULTS.md); a `lax.scan` over chunks is much slower.
    metrics: over the batch's steps, the largest of each `*_max`, the mean of the rest.
    """
    algo = algorithms.get(algorithm)
    epochs, minibatches = algo.epochs_and_minibatches(cfg)
    c = streams_per_chunk(num_envs, unroll_length, cfg.microbatch_samples)
    per_stream = algo.loss_stream_fields + (("core_h", "core_c") if is_recurrent(model) else ())  # [B, E, ...]
    prologue = make_prologue(model, cfg, algo, c, per_stream)
    optimizer_step = make_optimizer_step(optimizer, make_gradient(model, cfg, algo))
    if epochs * minibatches == 1:
        return one_step_train_step(prologue, optimizer_step, per_stream, c, cfg.entropy_coef)

    iterations = [i for i, v in enumerate(optimizer.variables) if v is optimizer.iterations][0]

    def plan(state: TrainState, batch):
        """-> (fields, scalars, parts int32 [K * M, n / M]): the prologue, and the streams of every step."""
        n = batch["actions"].shape[0] * num_envs
        fields, scalars = prologue(state, batch)
        first = state.optimizer[iterations]
        parts = jnp.concatenate([epoch_minibatches(seed, first, k, n, minibatches) for k in range(epochs)])
        return fields, scalars, parts

    def minibatch_step(state: TrainState, batch, fields, scalars, parts, i, entropy_coef):
        timed, part = TIMED_FIELDS + tuple(fields), parts[i]  # part: int32 [n / M] stream numbers
        cm = streams_per_chunk(part.shape[0], unroll_length, cfg.microbatch_samples)
        batch = {**batch, **fields}
        scalars = {**scalars, "entropy_coef": entropy_coef}
        chunks = [gather_chunk(batch, timed, per_stream, part[j : j + cm]) for j in range(0, len(part), cm)]
        return optimizer_step(state, [{**chunk, **scalars} for chunk in chunks])

    steps = epochs * minibatches
    return SteppedTrainStep(
        jax.jit(plan), jax.jit(minibatch_step, donate_argnums=(0,)), jax.jit(combine_metrics), steps, cfg.entropy_coef
    )


def make_optimizer_step(optimizer: keras.optimizers.Optimizer, gradient):
    """(state, chunks) -> (state, metrics): one optimizer step on the mean gradient of `chunks`
    (`make_gradient`), kept only where the loss and the gradient's norm are finite (`keep_if_finite`)."""

    def optimizer_step(state: TrainState, chunks: list[dict]):
        grads, loss, metrics, non_trainable = gradient(state, chunks)
        trainable, opt_vars = optimizer.stateless_apply(state.optimizer, grads, state.trainable)
        grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in grads))
        metrics["losses/grad_norm"] = grad_norm
        new = TrainState(trainable, non_trainable, opt_vars, state.target)
        new, applied = keep_if_finite(state, new, loss, grad_norm)
        metrics["learner/skipped_update"] = 1.0 - applied.astype(jnp.float32)
        return new, metrics

    return optimizer_step


def one_step_train_step(prologue, optimizer_step, per_stream: tuple, c: int, entropy_coef: float):
    """The jitted train step of an algorithm with one optimizer step per batch (the paper's five): the
    prologue, then one step on the whole batch in chunks of c streams."""

    def train_step(state: TrainState, batch, entropy_coef=entropy_coef):
        fields, scalars = prologue(state, batch)
        scalars["entropy_coef"] = entropy_coef
        chunks = slice_chunks({**batch, **fields}, TIMED_FIELDS + tuple(fields), per_stream, c)
        return optimizer_step(state, [{**chunk, **scalars} for chunk in chunks])

    return jax.jit(train_step, donate_argnums=(0,))


class SteppedTrainStep:
    """The train step of an algorithm with several optimizer steps per batch: (state, batch, entropy_coef) ->
    (state, metrics), as the jitted one-step train step, but made of three jitted functions called from here:
    `plan` (the prologue and every step's streams), `step` (one optimizer step on the i-th part) K x M times,
    `combine` (the steps' metrics into one dict).

    The steps are not one XLA program: XLA's CPU backend runs the same optimizer steps inside a `lax.scan`
    about 7x slower than unrolled, and unrolled they compiled 6x as long (Pong, 8 steps: 47 s against 8 s;
    benchmarks/RESULTS.md). `lower` traces all three on the calling thread and returns an object whose
    `compile()` gives the compiled step, as `jax.jit(...).lower(...)` does (`learner.train.compile_ahead`)."""

    def __init__(self, plan, step, combine, steps: int, entropy_coef: float):
        self.plan, self.step, self.combine, self.steps = plan, step, combine, steps
        self.entropy_coef = entropy_coef  # when a call gives none, as the jitted step's default

    def __call__(self, state: TrainState, batch, entropy_coef=None):
        entropy_coef = self.entropy_coef if entropy_coef is None else entropy_coef
        batch = jax.device_put(batch)  # once, not once per step
        fields, scalars, parts = self.plan(state, batch)
        metrics = []
        for i in range(self.steps):
            state, m = self.step(state, batch, fields, scalars, parts, jnp.int32(i), entropy_coef)
            metrics.append(m)
        return state, self.combine(metrics)

    def lower(self, state: TrainState, batch, entropy_coef):
        fields, scalars, parts = jax.eval_shape(self.plan, state, batch)
        metrics = jax.eval_shape(self.step, state, batch, fields, scalars, parts, jnp.int32(0), entropy_coef)[1]
        return _LoweredSteps(
            self,
            self.plan.lower(state, batch),
            self.step.lower(state, batch, fields, scalars, parts, jnp.int32(0), entropy_coef),
            self.combine.lower([metrics] * self.steps),
        )


class _LoweredSteps(NamedTuple):
    owner: SteppedTrainStep
    plan: object
    step: object
    combine: object

    def compile(self) -> SteppedTrainStep:
        owner = self.owner
        return SteppedTrainStep(
            self.plan.compile(), self.step.compile(), self.combine.compile(), owner.steps, owner.entropy_coef
        )
