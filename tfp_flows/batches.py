"""The order and batches of an in-memory data set, shared by the trainer and `tf.data`.

Epoch e of an array of n rows visits ``epoch_order(n, seed, e)`` in batches of
`batch_size`, the last one short when the batch size does not divide n. The order
depends only on (seed, e), so an interrupted and resumed run sees the same batches as
an uninterrupted one. Two consumers read this one definition:

* the trainer's `MaximumLikelihood` objective, which keeps the array in the graph and
  gathers each step's rows there from their row numbers (the compiled loop's per-step
  input), and
* `batch_dataset`, the same batches as a `tf.data.Dataset` of float rows (what
  `tfp_flows.datasets.gas.gas_dataset` returns), for a user's own loop or model.

Why the trainer gathers rather than iterating the dataset: measured side by side
(benchmarks/bench_gas_input.py, P2's model, XLA, 20 steps per call; figures in
benchmarks/README.md), feeding the dataset's float batches into the same compiled loop
was no faster than the gather (a few per cent slower, within the runs' spread); and
with row numbers as the per-step input, the position in the data is two integers in
the checkpoint (epoch, batch), with no iterator state to save for an exact `--resume`.
"""

import numpy as np
import tensorflow as tf

__all__ = ["batch_dataset", "epoch_order"]


def epoch_order(rows, seed, epoch, shuffle=True):
    """The row numbers of epoch `epoch` in visiting order (int32 [rows]): a permutation
    fixed by (seed, epoch), so a resumed run visits exactly what an uninterrupted one would.

    >>> order = epoch_order(5, seed=0, epoch=1)
    >>> sorted(order.tolist()), order.dtype.name
    ([0, 1, 2, 3, 4], 'int32')
    >>> bool((epoch_order(5, 0, 1) == order).all()), bool((epoch_order(1000, 0, 2) != epoch_order(1000, 0, 1)).any())
    (True, True)
    >>> epoch_order(3, seed=0, epoch=0, shuffle=False).tolist()
    [0, 1, 2]
    """
    if not shuffle:
        return np.arange(rows, dtype=np.int32)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(rows).astype(np.int32)


def batch_dataset(array, batch_size, seed=0, epochs=1, first_epoch=0, shuffle=True):
    """Epochs `first_epoch`, `first_epoch + 1`, ... (`epochs` of them; None: without end)
    of `array` [rows, ...] as a `tf.data.Dataset` of float32 batches, in the order the
    trainer visits them."""
    array = np.asarray(array, np.float32)
    if array.ndim < 1 or len(array) == 0:
        raise ValueError("array must be a non-empty array [rows, ...]")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    data = tf.constant(array)

    def orders():
        e = first_epoch
        while epochs is None or e < first_epoch + epochs:
            yield epoch_order(len(array), seed, e, shuffle)
            e += 1

    ds = tf.data.Dataset.from_generator(orders, output_signature=tf.TensorSpec([len(array)], tf.int32))
    ds = ds.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(int(batch_size)))
    return ds.map(lambda rows: tf.gather(data, rows), num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)
