"""Experiment configuration: YAML file + command-line overrides -> frozen dataclasses.

Every field carries its documentation (and unit) in `metadata["doc"]`. Units:
a *frame* is one emulator frame; an *agent step* is one action, i.e. `frame_skip`
frames on Atari and 1 frame elsewhere. Field names say which they count.

Errors are `ConfigError`, whose message is one line naming the key and what is
allowed; entry points print it and exit 2 instead of showing a traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from common import run_record


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line meant for the user."""


def _f(default, doc: str, *, ge=None, gt=None, le=None, lt=None):
    """A dataclass field with its documentation and numeric bounds (for a tuple: bounds of each item)."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class EnvConfig:
    id: str = _f("CartPole-v1", "gymnasium id; `ALE/<Game>-v5` runs on ale-py's AtariVectorEnv")
    num_envs: int = _f(8, "environments stepped together by each actor (one batched policy call)", ge=1, le=1024)
    frame_skip: int = _f(4, "emulator frames per agent step (Atari only; other envs count 1 frame per step)", ge=1)
    frame_stack: int = _f(4, "frames stacked into one observation (Atari and pixel envs)", ge=1, le=64)
    screen_size: int = _f(84, "observation height and width in pixels after resizing (pixel envs)", ge=8, le=1024)
    noop_max: int = _f(30, "at most this many no-op agent steps after each reset (Atari)", ge=0)
    sticky_actions: float = _f(
        0.25, "probability the emulator repeats the previous action (Atari v5 default 0.25)", ge=0.0, le=1.0
    )
    clip_rewards: bool = _f(True, "clip training rewards to [-1, 1]; reported returns are always unclipped")
    episodic_life: bool = _f(False, "a lost life ends the episode for learning (the game itself goes on; Atari)")
    fire_after_life_loss: bool = _f(
        False,
        "the env plays FIRE on the 3 agent steps after a lost life (Atari games that wait for FIRE to serve, "
        "like Breakout); the value methods' unrolls record FIRE as those steps' actions, A3C's the policy's own sample",
    )
    max_episode_frames: int = _f(
        108_000, "emulator frames before an Atari episode is truncated (30 min at 60 Hz)", ge=1
    )
    full_action_space: bool = _f(False, "use all 18 Atari actions instead of the game's minimal set")
    obs_wrapper: Literal["none", "mask_velocity"] = _f(
        "none",
        "mask_velocity: CartPole without its two velocities (cart position and pole angle only), a "
        "partially observed task that needs memory (model.core: lstm)",
    )


@dataclass(frozen=True)
class ModelConfig:
    torso: Literal["auto", "paper", "nature", "mlp"] = _f(
        "auto",
        "auto: `paper` for pixels, `mlp` for vectors; paper: conv16 8x8/4, conv32 4x4/2, dense 256 "
        "(Mnih et al. 2016); nature: DQN network (Mnih et al. 2015); mlp: dense layers of `mlp_hidden`",
    )
    mlp_hidden: tuple[int, ...] = _f((64, 64), "hidden layer sizes of the mlp torso", ge=1, le=65536)
    core: Literal["none", "lstm"] = _f(
        "none",
        "none: feed-forward; lstm: an LSTM after the torso (A3C-LSTM, Mnih et al. 2016), state carried by the actor",
    )
    lstm_size: int = _f(256, "cells of the LSTM core (paper: 256)", ge=1, le=65536)
    init: Literal["glorot", "orthogonal"] = _f(
        "glorot",
        "torso weight initialisation: glorot (Keras' default), or orthogonal with gain sqrt(2) "
        "(He-like scale for ReLU, as A2C/PPO implementations use); biases start at 0 either way",
    )
    center_frames: bool = _f(
        False,
        "paper/nature torsos: subtract each frame's mean pixel before conv1. A uniform background (Pong's) "
        "otherwise makes every weight of a conv1 filter share one gradient direction, which RMSprop's "
        "per-weight steps turn into one large step of the filter's response, killing filters early",
    )
    dense_norm: bool = _f(
        False,
        "paper/nature torsos: LayerNorm on the dense layer's pre-activations, before its ReLU. Its inputs (ReLU "
        "outputs) are never negative, so one outlying RMSprop step of its weights can push most units below 0 at "
        "once; normalised per observation, they can only be shifted by the norm's own offsets, about lr a step",
    )


@dataclass(frozen=True)
class ActorConfig:
    # Its lower bound depends on remote.enabled: checked in _check_cross_field.
    count: int = _f(2, "local actor processes spawned by the learner (>= 1; 0 allowed with remote.enabled)", le=1024)
    unroll_length: int = _f(20, "T: agent steps per unroll (each unroll holds T+1 observations)", ge=1, le=10_000)
    weight_refresh_unrolls: int = _f(
        1, "an actor checks the weight board for newer weights every this many unrolls", ge=1
    )
    queue_slots: int = _f(
        4, "unrolls each actor may have waiting for the learner; a full queue blocks the actor", ge=1, le=1024
    )
    hung_timeout_s: float = _f(
        60.0,
        "an actor that hands over no unroll for this long while it has a free slot (before its first: three "
        "times as long, at least 120 s), or an evaluation actor silent this long, is killed and replaced (counted)",
        gt=0.0,
    )
    # Value methods only (q_1step, sarsa_1step, q_nstep): epsilon-greedy exploration, Mnih et al. 2016 sec. 8.
    epsilon_finals: tuple[float, ...] = _f(
        (0.1, 0.01, 0.5),
        "final epsilons; each env of each actor draws one (seeded) with `epsilon_probs`",
        ge=0.0,
        le=1.0,
    )
    epsilon_probs: tuple[float, ...] = _f((0.4, 0.3, 0.3), "probabilities of `epsilon_finals`", ge=0.0, le=1.0)
    epsilon_anneal_frames: int = _f(
        4_000_000, "epsilon falls linearly from 1 to the actor's final value over this many trained frames", ge=1
    )


@dataclass(frozen=True)
class LearnerConfig:
    batch_unrolls: int = _f(2, "B: unrolls per train step (each of `env.num_envs` envs and T steps)", ge=1, le=1024)
    learning_rate: float = _f(7e-4, "initial learning rate", gt=0.0)
    anneal_lr: bool = _f(True, "anneal the learning rate linearly to `learning_rate_final` at `total_frames`")
    learning_rate_final: float = _f(0.0, "with `anneal_lr`: the learning rate at the end of the budget", ge=0.0)
    optimizer: Literal["rmsprop", "adam"] = _f(
        "rmsprop", "rmsprop (the paper's, with `rms_*`), or adam (with `adam_epsilon`, betas 0.9 and 0.999)"
    )
    adam_epsilon: float = _f(1e-5, "Adam's epsilon, added to the root of its second-moment estimate", gt=0.0)
    rms_rho: float = _f(0.99, "RMSprop decay (paper: alpha 0.99)", gt=0.0, lt=1.0)
    rms_epsilon: float = _f(0.1, "RMSprop epsilon, added inside the square root (paper: 0.1)", gt=0.0)
    rms_initial_mean_square: float = _f(
        0.0,
        "RMSprop's running mean of squared gradients starts here: Keras starts at 0 (the first steps are "
        "~10 x lr per weight), TensorFlow 1's RMSProp of the A3C/A2C reference code at 1 (the first few hundred "
        "steps are small while the mean falls to the gradients' scale)",
        ge=0.0,
    )
    max_grad_norm: float = _f(40.0, "global gradient-norm clip", gt=0.0)
    gamma: float = _f(0.99, "discount per agent step", ge=0.0, le=1.0)
    entropy_coef: float = _f(0.01, "weight of the entropy bonus", ge=0.0)
    entropy_coef_final: float | None = _f(
        None,
        "a3c, appo: the entropy weight at the end of the budget, reached linearly from `entropy_coef` over the updates "
        "(as `anneal_lr` does for the learning rate); unset: `entropy_coef` throughout",
        ge=0.0,
    )
    entropy_anneal_frames: int | None = _f(
        None,
        "a3c, appo: frames over which the entropy weight falls to `entropy_coef_final`, then stays there; unset: the "
        "whole budget (`total_frames`)",
        ge=1,
    )
    value_coef: float = _f(0.5, "weight of the value (baseline) loss", ge=0.0)
    publish_interval: int = _f(1, "U: publish weights to the actors every this many updates", ge=1)
    prefetch_batches: int = _f(2, "batches the batcher thread prepares ahead of the train step", ge=1, le=64)
    correction: Literal["none", "vtrace"] = _f(
        "none", "a3c: none (n-step returns), or vtrace to correct for policy lag with the actors' logits (IMPALA)"
    )
    vtrace_rho_bar: float = _f(1.0, "V-trace truncation of the importance weights in targets and advantages", gt=0.0)
    vtrace_c_bar: float = _f(1.0, "V-trace truncation of the trace coefficients c", gt=0.0)
    vtrace_lambda: float = _f(
        1.0, "V-trace's lambda: traces c = lambda * min(c_bar, pi/mu) (on-policy: GAE's lambda)", ge=0.0, le=1.0
    )
    eval_interval: int = _f(
        0,
        "frames between evaluations of the learner's weights by a separate greedy actor (unclipped "
        "returns logged as eval/episodic_return); 0: off",
        ge=0,
    )
    eval_episodes: int = _f(10, "episodes (played side by side) per evaluation", ge=1, le=1024)
    max_policy_lag: int | None = _f(
        None, "drop unrolls made by weights more than this many updates old (counted, logged); null: keep all", ge=0
    )
    max_nonfinite_in_a_row: int = _f(
        100,
        "stop the run with an error after this many updates in a row were skipped for a non-finite loss, "
        "gradient or weights, or this many unrolls in a row were dropped as non-finite",
        ge=1,
    )
    target_update_frames: int = _f(
        40_000, "value methods: copy the online weights into the target network every this many frames", ge=1
    )
    td_loss: Literal["squared", "huber"] = _f(
        "squared", "value methods: 0.5 * squared TD error, or Huber (quadratic within 1, linear beyond)"
    )
    epochs: int = _f(
        1,
        "K: passes over each batch, each in `minibatches` optimizer steps; appo only (the others take one step "
        "per batch)",
        ge=1,
        le=64,
    )
    minibatches: int = _f(
        1,
        "M: parts of whole env streams each pass splits the batch into, one optimizer step each (a fresh random "
        "split every pass); must divide `batch_unrolls` x `env.num_envs`; appo only",
        ge=1,
        le=1024,
    )
    clip_ratio: float = _f(
        0.2, "appo: PPO's clip of the ratio pi(a) / mu(a) (mu: the actor's policy) to 1 -/+ this", gt=0.0, lt=1.0
    )
    value_clip: float | None = _f(
        None,
        "appo: PPO's value clip: V may move at most this far (a return, unclipped rewards' units) from its "
        "value before the batch's first optimizer step, pessimistically; null: off",
        gt=0.0,
    )
    normalize_advantages: bool = _f(
        True, "appo: advantages to mean 0 and standard deviation 1 over the batch before the policy loss"
    )
    microbatch_samples: int = _f(
        64,
        "the train step takes gradients over groups of whole env streams of at most this many samples and "
        "averages them (same result, but conv gradients on CPU run ~2x faster in cache-sized pieces); 0: one piece",
        ge=0,
    )


@dataclass(frozen=True)
class RunConfig:
    dir: str = _f("runs", "parent folder of run folders; this run writes to <dir>/<name>")
    log_interval_seconds: float = _f(5.0, "seconds between progress lines / metrics rows", gt=0.0)
    checkpoint_interval_frames: int = _f(
        1_000_000, "frames between checkpoints (one is always written at the end)", ge=1
    )
    keep_checkpoints: int = _f(3, "numbered checkpoints kept (the newest); latest.* always points at the newest", ge=1)
    stop_at_return: float | None = _f(
        None, "stop early once the mean return of the last `stop_window` episodes reaches this"
    )
    stop_window: int = _f(20, "episodes averaged for `stop_at_return` and `target_return`", ge=1)
    stop_at_frames: int | None = _f(
        None,
        "stop (with a checkpoint, as SIGTERM does) once this many frames are trained; the schedules still run "
        "to `total_frames`, so a bare --resume stops here again and --resume --set run.stop_at_frames=N goes on",
        ge=1,
    )
    target_return: float | None = _f(
        None,
        "record in summary.json (`reached_target_at`) the frames and seconds at which the mean return of the "
        "last `stop_window` episodes first reaches this; training goes on",
    )
    track: bool = _f(
        False,
        "log the run to Weights & Biases (config, and every TensorBoard scalar through wandb's TensorBoard sync); "
        "needs the `track` extra (pip install -e '.[track]'); WANDB_MODE=offline logs without an account",
    )
    wandb_project: str = _f("asyncrl", "Weights & Biases project of a tracked run")


@dataclass(frozen=True)
class RemoteConfig:
    enabled: bool = _f(
        False,
        "serve the queue and weight board over TCP to remote actors (`python -m actor --learner HOST:PORT`); "
        "needs the shared secret ASYNCRL_AUTHKEY in the environment",
    )
    host: str = _f(
        "127.0.0.1", "address the learner listens on for remote actors; 0.0.0.0 for every interface (Docker)"
    )
    port: int = _f(7777, "TCP port the learner listens on for remote actors", ge=1, le=65535)
    max_actors: int = _f(
        32,
        "remote actor processes served at once (each may hold `actor.queue_slots` unrolls); more are refused",
        ge=1,
        le=1024,
    )


@dataclass(frozen=True)
class Config:
    name: str = _f("experiment", "run name; outputs go to <run.dir>/<name>")
    algorithm: Literal["a3c", "q_1step", "sarsa_1step", "q_nstep", "appo"] = _f(
        "a3c",
        "a3c (actor-critic), a value method: q_1step, sarsa_1step, q_nstep (Mnih et al. 2016), or appo (PPO's "
        "clipped surrogate on V-trace, several optimizer steps per batch)",
    )
    seed: int = _f(0, "seed for environments, network initialisation and action sampling", ge=0, lt=100_000)
    total_frames: int = _f(10_000_000, "train until the learner has trained on this many frames", ge=1)
    env: EnvConfig = field(default_factory=EnvConfig, metadata={"doc": "environment"})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"doc": "network"})
    actor: ActorConfig = field(default_factory=ActorConfig, metadata={"doc": "actor processes"})
    learner: LearnerConfig = field(default_factory=LearnerConfig, metadata={"doc": "learner process"})
    run: RunConfig = field(default_factory=RunConfig, metadata={"doc": "outputs and stopping"})
    remote: RemoteConfig = field(default_factory=RemoteConfig, metadata={"doc": "remote actors over TCP"})

    @property
    def run_path(self) -> str:
        return os.path.join(self.run.dir, self.name)


# ---------------------------------------------------------------- building


def _check_scalar(key: str, value: Any, tp: Any, meta: dict) -> Any:
    """Coerce `value` to the field type `tp` or raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if type(None) in args:  # Optional[X]
        if value is None:
            return None
        (tp,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {', '.join(map(repr, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            kind = "integers" if args[0] is int else "numbers"
            raise ConfigError(f"{key}: expected a list of {kind}, got {value!r}")
        return tuple(_check_scalar(f"{key}[{i}]", v, args[0], meta) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, str):
            try:
                value = int(value.replace("_", ""))
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, str):  # YAML 1.1 reads `7e-4` as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    elif tp is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        return value
    for bound, ok, word in (
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        b = meta.get(bound)
        if b is not None and not ok(value, b):
            raise ConfigError(f"{key}: must be {word} {b}, got {value!r}")
    return value


def _build(cls, data: Any, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(f"unknown key {full!r}{hint}; known keys here: {', '.join(fields)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, f"{full}.")
        else:
            kwargs[key] = _check_scalar(full, value, tp, dict(fields[key].metadata))
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {p!r} is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`learner.learning_rate=3e-4` -> ("learner.learning_rate", 3e-4); the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. learner.learning_rate=3e-4")
    key, raw = text.split("=", 1)
    try:
        value = yaml_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError):
        value = raw
    return key.strip(), value


MAX_CONFIG_BYTES = 1_000_000  # an experiment file is a few kB


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without aliases (`*name`): a 300-byte alias bomb expands to 10^8 leaves, a recursive alias
    never ends. Config files have no use for them, so they are refused before anything is expanded."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            mark = self.peek_event().start_mark
            raise ConfigError(f"line {mark.line + 1}: YAML aliases (*name) are not allowed in config files")
        return super().compose_node(parent, index)


def yaml_load(text):
    """`yaml.safe_load` of `text` (a string or file), refusing aliases (ConfigError)."""
    return yaml.load(text, Loader=_NoAliasLoader)


def from_dict(data: dict, overrides: dict[str, Any] | None = None) -> Config:
    """Validate a nested dict (plus dotted overrides) into a frozen `Config`."""
    tree = json.loads(json.dumps(data or {}, default=str))  # deep copy; YAML dates become strings
    for key, value in (overrides or {}).items():
        _set_dotted(tree, key, value)
    cfg = _build(Config, tree, "")
    _check_cross_field(cfg)
    return cfg


def load(path: str | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML experiment file (None: defaults only) and apply dotted overrides. A run's `config.json` is
    read with the changes its later legs recorded beside it (`common.run_record`): the settings it ended with."""
    data: dict = {}
    if path is not None:
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path!r} does not exist")
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path!r} is over {MAX_CONFIG_BYTES // 1000} kB: not an experiment file")
        try:
            with open(path) as fh:
                data = yaml_load(fh) or {}
        except ConfigError as exc:  # an alias
            raise ConfigError(f"config file {path!r}, {exc}") from None
        except RecursionError:
            raise ConfigError(f"config file {path!r} is nested too deeply") from None
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            where = f" line {line + 1}" if line is not None else ""
            raise ConfigError(f"config file {path!r}{where} is not valid YAML") from None
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path!r}: expected a mapping at the top level")
        if os.path.basename(path) == run_record.CONFIG_NAME:  # a run's: with what its later legs changed
            try:
                data = run_record.with_resumes(data, os.path.dirname(path))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"config file {path!r}: {exc}") from None
    return from_dict(data, overrides)


def _check_name(name: str) -> None:
    """A run name is one folder under run.dir: no separators, no climbing out, nothing hidden."""
    bad = not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\0")
    if bad or name != name.strip() or any(ord(c) < 32 for c in name):
        raise ConfigError(
            f"name: {name!r} must be one folder name under run.dir (no '/', no '..', no leading '.' or "
            "spaces); put the parent folder in run.dir / --run-dir"
        )


def _check_cross_field(cfg: Config) -> None:
    _check_name(cfg.name)
    if cfg.actor.count < 0 or (cfg.actor.count == 0 and not cfg.remote.enabled):
        bound = ">= 0" if cfg.remote.enabled else ">= 1 unless remote.enabled (no actors means no experience)"
        raise ConfigError(f"actor.count: must be {bound}, got {cfg.actor.count}")
    if cfg.model.torso == "mlp" and not cfg.model.mlp_hidden:
        raise ConfigError("model.mlp_hidden: the mlp torso needs at least one layer")
    if cfg.learner.learning_rate_final and not cfg.learner.anneal_lr:
        raise ConfigError(
            "learner.learning_rate_final: needs learner.anneal_lr (the rate stays at learner.learning_rate without)"
        )
    if cfg.env.fire_after_life_loss and not cfg.env.id.startswith("ALE/"):
        raise ConfigError(
            f"env.fire_after_life_loss: needs an Atari game with lives (ALE/<Game>-v5), not {cfg.env.id!r}"
        )
    from common import algorithms  # the registry imports this module

    algo = algorithms.get(cfg)
    algo.check_config(cfg)  # what the algorithm itself cannot use (e.g. an lstm core, vtrace)
    steps = (cfg.learner.epochs, cfg.learner.minibatches)
    if algo.epochs_and_minibatches(cfg.learner) != steps:
        raise ConfigError(
            f"learner.epochs, learner.minibatches: {cfg.algorithm} takes one optimizer step per batch, not "
            f"{steps[0]} x {steps[1]}; algorithms that reuse a batch (appo) take them"
        )
    finals, probs = cfg.actor.epsilon_finals, cfg.actor.epsilon_probs
    if not finals or len(finals) != len(probs):
        raise ConfigError(
            f"actor.epsilon_probs: needs one probability per final epsilon ({len(finals)}), got {len(probs)}"
        )
    if abs(sum(probs) - 1.0) > 1e-6:
        raise ConfigError(f"actor.epsilon_probs: must sum to 1, got {sum(probs)}")


def stop_frames(cfg: Config) -> int:
    """Where a session's training ends: the budget, or `run.stop_at_frames` before it (the schedules still
    anneal over the whole budget)."""
    return min(cfg.total_frames, cfg.run.stop_at_frames or cfg.total_frames)


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def save(cfg: Config, path: str) -> None:
    """Write the resolved config as JSON, atomically."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(to_dict(cfg), fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, path)


def describe(cls=Config, prefix: str = "") -> list[str]:
    """One line per field: `key (type, default): doc`. Used by `--help-config`."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            lines.extend(describe(tp, f"{prefix}{f.name}."))
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        lines.append(f"{prefix}{f.name} = {default!r}: {f.metadata.get('doc', '')}")
    return lines
