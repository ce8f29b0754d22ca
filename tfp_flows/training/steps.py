"""The compiled training loop: several optimizer steps per call, run inside the graph."""

import tensorflow as tf

__all__ = ["loss_and_gradients", "make_train_loop"]


def loss_and_gradients(loss_fn, variables, *args):
    """(loss, gradients, whether the loss and every gradient are finite)."""
    with tf.GradientTape() as tape:
        loss = loss_fn(*args)
    grads = tape.gradient(loss, variables)
    finite = tf.math.is_finite(loss)
    for g in grads:
        finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(g)))
    return loss, grads, finite


def make_train_loop(loss_fn, variables, optimizer, step_counter, counters=(), jit_compile=False,
                    input_spec=None):
    """Several training steps per compiled call: `run(inputs, n) -> (losses, applied)`.

    `inputs` is an int32 [k, width] array, one row per step (for maximum likelihood the
    row numbers of a batch); the call runs steps i = 0..n-1 (n <= k) as an in-graph loop,
    step i minimising ``loss_fn(inputs[i], step_counter + i)`` with `optimizer`. A step
    whose loss or gradients are not all finite is not applied and ends the loop.
    `losses` [k] holds the losses of the steps run (zeros after them); `applied` counts
    the steps applied, and `step_counter` and every variable in `counters` (int64
    `tf.Variable`s) are increased by it inside the same call, so a counter and the
    weights it describes are always saved together.

    Why in the graph: on CPU a step of P2's MAF takes a few milliseconds, and calling a
    `tf.function` from Python for each one costs a large share of that (the
    `tfp_plain_step` row of benchmarks/bench_train.py). Pass `inputs` of a fixed shape
    and vary `n`: with ``jit_compile=True`` XLA compiles once per shape. `input_spec`
    replaces the int32 [k, width] signature (benchmarks/bench_gas_input.py feeds float
    batches [k, batch, D] this way).
    """
    variables = list(variables)
    counters = [step_counter, *counters]

    @tf.function(jit_compile=jit_compile, input_signature=[
        input_spec or tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
    def run(inputs, n):
        losses = tf.TensorArray(tf.float32, size=tf.shape(inputs)[0], element_shape=[])
        first = step_counter.read_value()
        applied = tf.constant(0, tf.int32)
        i = tf.constant(0, tf.int32)
        ok = tf.constant(True)
        # A `while`, not `for i in tf.range(n)`: autograph gives a range loop
        # maximum_iterations=n, which XLA must know at compile time, so every new value
        # of n would compile the loop again.
        while ok and i < n:
            loss, grads, finite = loss_and_gradients(loss_fn, variables, inputs[i],
                                                     first + tf.cast(i, first.dtype))
            losses = losses.write(i, tf.cast(loss, tf.float32))
            if finite:
                optimizer.apply_gradients(zip(grads, variables))
                applied += 1
            else:
                ok = tf.constant(False)
            i += 1
        for c in counters:
            c.assign_add(tf.cast(applied, c.dtype))
        return losses.stack(), applied

    return run
