"""Learner process: batches unrolls, trains, publishes weights, writes metrics and checkpoints."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
