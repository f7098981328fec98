"""Checkpoints of a run and resuming from them.

Layout of `runs/<name>/checkpoints/`:

    <frames>.weights.h5   Keras `save_weights` of the online network at that frame count
    <frames>.state.h5     the rest of the training state (h5py, see `save_state`)
    latest.weights.h5     the newest weights (a hard link, or a copy), what `actor.play` loads
    latest.state.h5       the newest training state

Every file is written under a temporary name, flushed to disk and renamed over its
target, so a crash at any moment leaves either the old file or the new one, never a
truncated one. A pair is written weights first, then state: a `<frames>.state.h5`
only exists once its weights are complete, and resume takes the newest such pair.
The last `run.keep_checkpoints` pairs are kept. A pair that resume finds unreadable is renamed
`damaged-<frames>.*` (kept for a look, never resumed from, never counted among the kept ones).
A write that fails (e.g. a full disk) removes what it wrote and raises `CheckpointError`; the
previous pair and `latest` stay as they were.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field

import h5py
import numpy as np

from common.config import ConfigError
from common.weights import WeightsError, load_weights, open_h5
from learner.train_step import TrainState, copy_weights

STATE_FORMAT = 1
_NUMBERED = re.compile(r"^(\d+)\.state\.h5$")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written; one line for the user. The previous checkpoint is intact."""


@dataclass
class Counters:
    """Training progress that a resumed run continues from (everything but the arrays)."""

    frames: int = 0  # emulator frames trained on
    updates: int = 0  # batches trained, the policy version (the optimizer's own iteration count is in its state)
    episodes: int = 0  # games finished by the actors
    elapsed_s: float = 0.0  # training seconds before this session
    actor_seed_base: int = 0  # RNG state: actor seeds are drawn from (run seed, actor id, base + restarts)
    returns: list = field(default_factory=list)  # the last returns, for return(100) and `run.stop_at_return`


@dataclass
class Resumed:
    counters: Counters
    state: TrainState
    weights_path: str


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(tmp: str, path: str) -> None:
    """Flush `tmp` to disk and rename it over `path` (atomic on POSIX)."""
    _fsync_file(tmp)
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _tmp_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".tmp-{os.getpid()}-{name}")  # Keras wants the `.weights.h5` suffix kept


def save_weights_atomic(model, path: str) -> None:
    """`model.save_weights(path)` such that a crash never leaves a truncated `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = _tmp_name(path)
    try:
        model.save_weights(tmp)
        _commit(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_state(
    path: str, counters: Counters, optimizer_values: list, optimizer_names: list[str], target_values: list
) -> None:
    """Write the training state to `path` atomically.

    attrs: format, frames, updates, episodes, elapsed_s, actor_seed_base;
    datasets: returns [n] float64, optimizer/<i> (attr `name`: the Keras variable path),
    target/<i> (value methods: the target network, in trainable_variables order).
    """
    tmp = _tmp_name(path)
    try:
        with h5py.File(tmp, "w") as fh:
            fh.attrs["format"] = STATE_FORMAT
            for key in ("frames", "updates", "episodes", "actor_seed_base"):
                fh.attrs[key] = int(getattr(counters, key))
            fh.attrs["elapsed_s"] = float(counters.elapsed_s)
            fh.create_dataset("returns", data=np.asarray(counters.returns, np.float64))
            opt = fh.create_group("optimizer")
            for i, (name, value) in enumerate(zip(optimizer_names, optimizer_values)):
                opt.create_dataset(f"{i:04d}", data=np.asarray(value)).attrs["name"] = name
            tgt = fh.create_group("target")
            for i, value in enumerate(target_values):
                tgt.create_dataset(f"{i:04d}", data=np.asarray(value))
        _commit(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _link_latest(src: str, latest: str) -> None:
    """Point `latest` at `src` atomically: a hard link (no copy) where the filesystem allows, else a copy."""
    tmp = _tmp_name(latest)
    if os.path.exists(tmp):
        os.remove(tmp)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    try:
        _commit(tmp, latest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def checkpoint_frames(ckpt_dir: str) -> list[int]:
    """Frame counts of the complete numbered checkpoints in `ckpt_dir`, newest first."""
    if not os.path.isdir(ckpt_dir):
        return []
    found = []
    for name in os.listdir(ckpt_dir):
        m = _NUMBERED.match(name)
        if m and os.path.exists(os.path.join(ckpt_dir, f"{m.group(1)}.weights.h5")):
            found.append(int(m.group(1)))
    return sorted(found, reverse=True)


def checkpoint_weights(ckpt_dir: str) -> list[str]:
    """Paths of the complete numbered weights files in `ckpt_dir`, oldest first (for scoring a run's history)."""
    return [os.path.join(ckpt_dir, f"{n}.weights.h5") for n in reversed(checkpoint_frames(ckpt_dir))]


def save_checkpoint(ckpt_dir: str, model, optimizer, target_values: list, counters: Counters, keep: int) -> str:
    """Write `<frames>.weights.h5` + `<frames>.state.h5`, point `latest.*` at them, prune to the last `keep`.

    The model and optimizer variables must hold the current values (`train_step.write_back`).
    Returns the weights path; CheckpointError (one line) if the files could not be written.
    """
    os.makedirs(ckpt_dir, exist_ok=True)
    weights = os.path.join(ckpt_dir, f"{counters.frames}.weights.h5")
    state = os.path.join(ckpt_dir, f"{counters.frames}.state.h5")
    try:
        save_weights_atomic(model, weights)
        save_state(
            state,
            counters,
            [v.value for v in optimizer.variables],
            [v.path for v in optimizer.variables],
            target_values,
        )
    except OSError as exc:
        for path in (state, weights):  # a weights file without its state is no checkpoint: leave none
            if os.path.exists(path):
                os.remove(path)
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CheckpointError(
            f"could not write the checkpoint at {counters.frames:,} frames in {ckpt_dir} ({reason}); "
            "the previous one stays"
        ) from None
    _link_latest(weights, os.path.join(ckpt_dir, "latest.weights.h5"))
    _link_latest(state, os.path.join(ckpt_dir, "latest.state.h5"))
    older = [f for f in checkpoint_frames(ckpt_dir) if f != counters.frames]
    for old in older[max(keep - 1, 0) :]:  # the pair just written always stays
        for suffix in ("state", "weights"):  # state first: a pair without state is never resumed from
            path = os.path.join(ckpt_dir, f"{old}.{suffix}.h5")
            if os.path.exists(path):
                os.remove(path)
    return weights


def set_aside(ckpt_dir: str, frames: int) -> None:
    """Rename an unreadable pair to `damaged-<frames>.*`: out of resume's and pruning's way, kept for a look."""
    for suffix in ("state", "weights"):
        path = os.path.join(ckpt_dir, f"{frames}.{suffix}.h5")
        if os.path.exists(path):
            os.replace(path, os.path.join(ckpt_dir, f"damaged-{frames}.{suffix}.h5"))


def read_state(path: str) -> tuple[Counters, list[np.ndarray], list[str], list[np.ndarray]]:
    """(counters, optimizer values, optimizer variable names, target values) from a `.state.h5` file."""
    with open_h5(path, "training state") as fh:
        try:
            if int(fh.attrs.get("format", -1)) != STATE_FORMAT:
                raise WeightsError(
                    f"training state {path!r} has format {fh.attrs.get('format')}, expected {STATE_FORMAT}"
                )
            counters = Counters(
                frames=int(fh.attrs["frames"]),
                updates=int(fh.attrs["updates"]),
                episodes=int(fh.attrs["episodes"]),
                elapsed_s=float(fh.attrs["elapsed_s"]),
                actor_seed_base=int(fh.attrs["actor_seed_base"]),
                returns=[float(x) for x in fh["returns"][()]],
            )
            opt_keys = sorted(fh["optimizer"])
            optimizer = [np.asarray(fh["optimizer"][k][()]) for k in opt_keys]
            names = [str(fh["optimizer"][k].attrs["name"]) for k in opt_keys]
            target = [np.asarray(fh["target"][k][()]) for k in sorted(fh["target"])]
        except (KeyError, OSError, ValueError, TypeError) as exc:  # a missing or malformed attribute or dataset
            raise WeightsError(
                f"training state {path!r} is damaged or incomplete ({type(exc).__name__}: {exc})"
            ) from None
    return counters, optimizer, names, target


def resume_checkpoint(ckpt_dir: str, model, optimizer, with_target: bool, env_id: str, log=print) -> Resumed:
    """Load the newest complete checkpoint into `model` and `optimizer` (built) and return the state to train on.

    Raises ConfigError (one line) when there is nothing to resume from.
    """
    if os.path.isdir(ckpt_dir):  # half-written files of a write that a crash (kill -9) cut short
        for name in os.listdir(ckpt_dir):
            if name.startswith(".tmp-"):
                os.remove(os.path.join(ckpt_dir, name))
    frames_list = checkpoint_frames(ckpt_dir)
    if not frames_list:
        raise ConfigError(
            f"--resume: {ckpt_dir} holds no complete checkpoint (<frames>.weights.h5 + <frames>.state.h5)"
        )
    for frames in frames_list:
        weights_path = os.path.join(ckpt_dir, f"{frames}.weights.h5")
        try:
            counters, opt_values, _names, target = read_state(os.path.join(ckpt_dir, f"{frames}.state.h5"))
            load_weights(model, weights_path, env_id)
            if not all(np.isfinite(np.asarray(v.value)).all() for v in model.weights):
                raise WeightsError(f"{weights_path!r} holds non-finite weights")
        except (WeightsError, OSError, ValueError, KeyError, TypeError) as exc:
            log(f"skipping checkpoint {frames}, set aside as damaged-{frames}.*: {exc}")
            set_aside(ckpt_dir, frames)
            continue
        variables = list(optimizer.variables)
        if [tuple(v.shape) for v in variables] != [tuple(a.shape) for a in opt_values]:
            raise ConfigError(
                f"--resume: the optimizer state in {ckpt_dir} ({len(opt_values)} variables) does not fit this "
                f"run's optimizer ({len(variables)}); was the config changed?"
            )
        for var, value in zip(variables, opt_values):
            var.assign(value)
        trainable = [v.value for v in model.trainable_variables]
        if with_target and len(target) != len(trainable):
            raise ConfigError(f"--resume: checkpoint {frames} has no target network for this value method")
        state = TrainState(
            trainable,
            [v.value for v in model.non_trainable_variables],
            [v.value for v in variables],
            copy_weights(target) if with_target else [],
        )
        if frames != frames_list[0]:  # newer pairs were set aside: `latest` must not name one of them
            _link_latest(weights_path, os.path.join(ckpt_dir, "latest.weights.h5"))
            _link_latest(os.path.join(ckpt_dir, f"{frames}.state.h5"), os.path.join(ckpt_dir, "latest.state.h5"))
        return Resumed(counters, state, weights_path)
    raise ConfigError(f"--resume: no checkpoint in {ckpt_dir} could be read (see the lines above)")
