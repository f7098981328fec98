"""Export trained weights as a full Keras model file that plain Keras opens.

    python -m learner.export runs/<name> --out model.keras      (or a .weights.h5 file)
    asyncrl-export runs/<name> --out model.keras

The `.keras` file holds the architecture and the weights; `keras.saving.load_model("model.keras")`
opens it in a Python without this project (feed-forward models use only Keras' own layers).
A3C-LSTM models use the project's `ResettableLSTM` layer: load them after `import common.model`,
which registers it. Inputs and outputs are those of the project's model (docs/playing.md).
After writing, the file is loaded back and its outputs compared with the project's model on the
same observations.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np

from common.shell import command, command_name

MAX_ABS_DIFF = 1e-5  # the round trip may not move an output more than this


class ExportError(ValueError):
    """Bad input or a failed round trip; one line for the user."""


def sample_inputs(model, spec, batch: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Random inputs the model takes: observations in the env's range (and, for A3C-LSTM, T=3 steps,
    no resets and a zero state). obs: [batch, *obs_shape] ([batch, 3, *obs_shape] for LSTM)."""
    rng = np.random.default_rng(seed)
    recurrent = len(model.inputs) > 1
    shape = (batch, 3, *spec.obs_shape) if recurrent else (batch, *spec.obs_shape)
    if spec.obs_dtype == "uint8":
        obs = rng.integers(0, 256, size=shape, dtype=np.uint8)
    else:
        obs = rng.normal(size=shape).astype(spec.obs_dtype)
    if not recurrent:
        return [obs]
    units = int(model.inputs[2].shape[-1])
    zeros = np.zeros((batch, units), np.float32)
    return [obs, np.zeros((batch, 3), np.float32), zeros, zeros]


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]  # one output: the array itself


def export(cfg, weights: str, out: str) -> float:
    """Writes `out` (.keras) from `weights`; returns the largest output difference of the round trip."""
    import keras

    from common.env import probe_spec
    from common.weights import load_model_file

    if not out.endswith(".keras"):
        raise ExportError(f"--out: a Keras model file ends in .keras, got {out!r}")
    if os.path.dirname(out) and not os.path.isdir(os.path.dirname(out)):
        raise ExportError(f"--out: folder {os.path.dirname(out)!r} does not exist")
    spec = probe_spec(cfg.env)
    model = load_model_file(cfg, spec, weights, seed=cfg.seed)
    model.save(out)
    loaded = keras.saving.load_model(out, compile=False)
    inputs = sample_inputs(model, spec)
    inputs = inputs if len(inputs) > 1 else inputs[0]  # a one-input model takes the array itself
    ours, theirs = _as_list(model(inputs)), _as_list(loaded(inputs))
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(ours, theirs))
    if not diff <= MAX_ABS_DIFF:
        os.remove(out)
        raise ExportError(f"the exported model's outputs differ from the project's by {diff:g}; {out} removed")
    return diff


def signature(cfg) -> str:
    """The exported model's inputs and outputs (the algorithm's heads), in words."""
    from common import algorithms

    heads = ", ".join(algorithms.get(cfg).heads)
    if cfg.model.core == "lstm":
        return (
            f"inputs [obs [N, T, *obs], resets [N, T], h [N, H], c [N, H]] -> [{heads}, h, c]; "
            "load it after `import common.model` (the ResettableLSTM layer)"
        )
    return f"input obs [N, *obs] -> [{heads}]"


@command
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=command_name("learner.export"), description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="a run folder (its checkpoints/latest.weights.h5), a .weights.h5 or a .keras file")
    p.add_argument("--out", required=True, help="the .keras file to write")
    p.add_argument("--config", help="YAML or config.json the weights were trained with (default: the run's)")
    args = p.parse_args(argv)
    from common.config import ConfigError
    from common.weights import WeightsError, resolve_target

    try:
        cfg, weights = resolve_target(args.target, args.config, None, {}, env_hint="")
        diff = export(cfg, weights, args.out)
    except (ConfigError, WeightsError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {cfg.algorithm} on {cfg.env.id}, {signature(cfg)}; round trip max |diff| {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
