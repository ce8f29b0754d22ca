"""Helpers shared by the hand-written bijectors (planar, radial)."""

import tensorflow as tf
import tensorflow_probability as tfp


def dtype_of(x):
    """The dtype of `x`, converting plain numbers."""
    return x.dtype if hasattr(x, "dtype") else tf.convert_to_tensor(x).dtype


def as_parameter(x, dtype, name):
    """Keep variables (and DeferredTensors) as they are, so they stay trainable."""
    if isinstance(x, (tf.Variable, tfp.util.DeferredTensor)):
        return x
    return tf.convert_to_tensor(x, dtype=dtype, name=name)
