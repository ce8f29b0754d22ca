"""One call that makes a run repeatable: the same seed gives the same numbers."""

import os
import random

import numpy as np
import tensorflow as tf

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels.

    Args:
      seed: a non-negative integer.

    Returns:
      A `numpy.random.Generator` seeded with `seed`, for the caller's own draws.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    tf.random.set_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)
