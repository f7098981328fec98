"""Loading `.weights.h5` files with one-line errors instead of h5py/Keras tracebacks.

Keras 3 `save_weights` writes `layers/<auto-name>/vars/<i>` datasets and tags each
`vars` group with the layer's `name` attribute; we read those tags to compare the
file, layer by layer, with the model built for an env before Keras sees the file.
Used by resume (learner), play and evaluation (actor).
"""

from __future__ import annotations

import os

import h5py


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
