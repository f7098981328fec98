"""Actor processes: step environments with the latest published weights and send unrolls."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
