"""Atomic `.weights.h5` checkpoints: write a temporary file, then rename over the target."""

from __future__ import annotations

import os


def save_weights_atomic(model, path: str) -> None:
    """`model.save_weights(path)` such that a crash never leaves a truncated `path`."""
    folder, name = os.path.split(path)
    os.makedirs(folder or ".", exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")  # Keras wants the `.weights.h5` suffix
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
