"""Loading `.weights.h5` files with one-line errors instead of h5py/Keras tracebacks.

Keras 3 `save_weights` writes `layers/<auto-name>/vars/<i>` datasets and tags each
`vars` group with the layer's `name` attribute; we read those tags to compare the
file, layer by layer, with the model built for an env before Keras sees the file.
Used by resume (learner), play and evaluation (actor). `resolve_target` and `load_model_file`
turn what a user names (a run folder, a `.weights.h5` or an exported `.keras` file) into a config
and a loaded model.
"""

from __future__ import annotations

import os

import h5py

ENV_HINT = ", or --env ID for the default model"  # commands without --env pass ""


class WeightsError(ValueError):
    """A weights file that cannot be loaded into the model; the message is one line meant for the user."""


def open_h5(path: str, what: str = "weights file") -> h5py.File:
    """Open an HDF5 file for reading, or raise WeightsError saying what is wrong with it."""
    if not os.path.exists(path):
        raise WeightsError(f"{what} {path!r} does not exist")
    if os.path.isdir(path):
        raise WeightsError(f"{what} {path!r} is a folder, not a file")
    if not h5py.is_hdf5(path):
        raise WeightsError(f"{what} {path!r} is not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:  # e.g. "truncated file: eof = ..., sblock->base_addr = ..."
        reason = str(exc).split(";")[0].strip() or type(exc).__name__
        raise WeightsError(f"{what} {path!r} is damaged or truncated ({reason})") from None


def file_layers(path: str) -> dict[str, list[tuple[int, ...]]]:
    """Layer name -> shapes of its saved variables, in order, for a Keras 3 `.weights.h5` file."""
    with open_h5(path) as fh:
        try:
            if "layers" not in fh:
                raise WeightsError(
                    f"weights file {path!r} is HDF5 but not a Keras .weights.h5 file (no 'layers' group)"
                )
            out = {}
            for group in fh["layers"].values():
                vars_group = group.get("vars") if isinstance(group, h5py.Group) else None
                if vars_group is None:
                    continue
                name = vars_group.attrs.get("name", group.name.rsplit("/", 1)[-1])
                name = name.decode() if isinstance(name, bytes) else str(name)
                out[name] = _saved_shapes(group)
            return out
        except (OSError, KeyError, ValueError) as exc:
            if isinstance(exc, WeightsError):
                raise
            raise WeightsError(f"weights file {path!r} is damaged or truncated ({type(exc).__name__})") from None


def _saved_shapes(group: h5py.Group) -> list[tuple[int, ...]]:
    """Shapes of every variable saved under one layer's group, nested layers included (a
    TimeDistributed torso, an LSTM's cell keep theirs in sub-groups), sorted: compared as a set."""
    shapes = []

    def visit(_name, obj):
        if isinstance(obj, h5py.Dataset):
            shapes.append(tuple(obj.shape))

    group.visititems(visit)
    return sorted(shapes)


def check_fits(model, path: str, env_id: str) -> None:
    """Raise WeightsError naming the first layer whose saved shapes differ from `model`'s."""
    saved = file_layers(path)
    model_layers = {
        layer.name: sorted(tuple(w.shape) for w in layer.weights) for layer in model.layers if layer.weights
    }
    for name, shapes in model_layers.items():
        if name not in saved:
            raise WeightsError(
                f"weights file {path!r} has no layer {name!r} of the model for {env_id} "
                f"(the file has layers {', '.join(sorted(n for n in saved if saved[n]))})"
            )
        if saved[name] != shapes:
            raise WeightsError(
                f"weights file {path!r} does not fit the model for {env_id}: layer {name!r} has shapes "
                f"{_fmt(saved[name])} in the file, the model needs {_fmt(shapes)}"
            )
    extra = sorted(n for n, s in saved.items() if s and n not in model_layers)
    if extra:
        raise WeightsError(
            f"weights file {path!r} does not fit the model for {env_id}: the file has layers the model lacks "
            f"({', '.join(extra)}); was it trained with another algorithm or model?"
        )


def load_weights(model, path: str, env_id: str) -> None:
    """`model.load_weights(path)` after `check_fits`; any remaining failure becomes a WeightsError."""
    check_fits(model, path, env_id)
    try:
        model.load_weights(path)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"weights file {path!r} could not be loaded: {first}") from None


def _fmt(shapes) -> str:
    return "[" + ", ".join(str(tuple(s)) for s in shapes) + "]"


def resolve_target(
    target: str, config: str | None, env_id: str | None, overrides: dict, env_hint: str = ENV_HINT
) -> tuple:
    """(config with unclipped rewards and `overrides`, weights path) for a run folder, a `.weights.h5` or a
    `.keras` file. The config is `config`, else the run's config.json (beside the file: a shipped model, or
    in the run folder above checkpoints/), else the default for `env_id`. WeightsError / ConfigError, one line."""
    from common import config as config_lib

    run_config: str | None
    if os.path.isdir(target):
        weights = os.path.join(target, "checkpoints", "latest.weights.h5")
        if not os.path.exists(weights):
            raise WeightsError(f"{target!r} is a folder without checkpoints/latest.weights.h5; is it a run folder?")
        run_config = os.path.join(target, "config.json")
    elif os.path.exists(target):
        weights = target
        here = os.path.dirname(os.path.abspath(target))
        candidates = [os.path.join(here, "config.json"), os.path.join(os.path.dirname(here), "config.json")]
        run_config = next((c for c in candidates if os.path.isfile(c)), None)
    else:
        raise WeightsError(f"{target!r} does not exist (give a run folder, a .weights.h5 or a .keras file)")
    overrides = {"env.clip_rewards": False, **overrides}  # scores are the game's own
    if env_id is not None:
        overrides["env.id"] = env_id
    source = config or run_config
    if source is None and env_id is None:
        raise WeightsError(f"no config.json next to {target!r}: pass --config FILE{env_hint}")
    return config_lib.load(source, overrides), weights


def load_model_file(cfg, spec, path: str, seed: int = 0):
    """A model for `cfg` and env `spec`: an exported `.keras` file as it is (its input must take the env's
    observations), or the project's model with a `.weights.h5` file loaded into it."""
    if path.endswith(".keras"):
        return _load_keras_file(path, spec, cfg.env.id, cfg.algorithm, cfg.model.core == "lstm")
    from common.model import build_model

    model = build_model(spec, cfg.model, seed=seed, algorithm=cfg.algorithm)
    load_weights(model, path, cfg.env.id)
    return model


def _load_keras_file(path: str, spec, env_id: str, algorithm: str, recurrent: bool):
    import keras

    import common.model  # noqa: F401  registers ResettableLSTM, which A3C-LSTM files name

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"model file {path!r} could not be loaded: {first}") from None
    obs_shape = tuple(model.inputs[0].shape[1:])
    if obs_shape[-len(spec.obs_shape) :] != tuple(spec.obs_shape):
        raise WeightsError(f"model file {path!r} takes observations {obs_shape}, {env_id} gives {spec.obs_shape}")
    heads = [int(o.shape[-1]) for o in model.outputs]
    expected = _expected_heads(algorithm, recurrent, spec.num_actions)
    if len(heads) != len(expected) or any(e is not None and h != e for h, e in zip(heads, expected)):
        raise WeightsError(
            f"model file {path!r} has outputs of sizes {heads}; {algorithm} on {env_id} "
            f"({spec.num_actions} actions) needs {['H' if e is None else e for e in expected]}"
        )
    return model


def _expected_heads(algorithm: str, recurrent: bool, num_actions: int) -> list[int | None]:
    """Last dimension of each output: the algorithm's heads ([Q values], [logits, value]), with an LSTM
    followed by [h, c] (None: any)."""
    from common import algorithms

    sizes: list[int | None] = list(algorithms.get(algorithm).head_sizes(num_actions))
    return sizes + [None, None] if recurrent else sizes
