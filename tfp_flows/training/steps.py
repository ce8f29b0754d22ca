"""The compiled training loop: several optimizer steps per call, run inside the graph."""

from typing import Any, Callable, Optional, Sequence, Tuple

import tensorflow as tf

from tfp_flows.training.evaluation import xla_pays

try:  # XLA's optimization barrier; TensorFlow has it only in this module (see all_finite)
    from tensorflow.compiler.tf2xla.python.xla import optimization_barrier as _xla_barrier
except ImportError:  # pragma: no cover - a TensorFlow without it: the same answer, compiled more slowly
    _xla_barrier = None

__all__ = ["all_finite", "loss_and_gradients", "make_distributed_train_loop", "make_train_loop"]


def loss_and_gradients(loss_fn, variables, *args, compiled=False):
    """(loss, gradients, whether the loss and every gradient are finite). `compiled`:
    the caller is compiled with XLA (see `all_finite`)."""
    with tf.GradientTape() as tape:
        loss = loss_fn(*args)
    grads = tape.gradient(loss, variables)
    return loss, grads, all_finite([loss, *grads], compiled=compiled)


def all_finite(tensors, compiled=False):
    """Whether every element of every tensor is finite (a scalar bool).

    A minimum over ``is_finite`` cast to floats, one per tensor, not a boolean
    ``reduce_all``: in a bare XLA loop of P2's model at batch 1000, ``reduce_all`` on every
    gradient made a step about 30% slower and its compilation 41-46 s against 33-34 s
    (1.06x in the trainer itself; benchmarks/README.md, "Issue 17, third pass").
    Concatenating the gradients into one tensor first compiles in half that time but
    copies them every step: 11% slower at batch 100. The answer is the same.

    ``compiled=True`` (only inside XLA-compiled code): the per-tensor minimums pass
    through an XLA optimization barrier before their own minimum. Without it XLA's
    simplifier turns that minimum into a chain of scalar minimums and copies the chain
    into every fusion that reads the flag, one per variable and optimizer slot: 19,360
    scalar operations in a step of P2's model, which took LLVM 12-14 s to compile
    (31 s against 17-19 s for the bare loop; the same step time).
    """
    if not (compiled and _xla_barrier is not None):
        return tf.reduce_min(tf.stack([_finite_share(t) for t in tensors])) > 0.5
    big = [t for t in tensors if _matvec_checkable(t)]
    smallest = tf.stack([_finite_share(t) for t in tensors if not _matvec_checkable(t)] or [tf.ones([])])
    smallest = _xla_barrier(smallest)[0]
    if big:
        # Large matrices (the kernels of a 784-dimensional MADE) by a product with a zero
        # vector: each row's sum of x * 0 is 0 when every x in it is finite, NaN otherwise
        # (inf * 0 and NaN * 0 are NaN), so it sees what the minimum sees, but as one
        # vectorised, multithreaded pass: XLA's CPU reduction of is_finite over 12M
        # gradients took 12 ms of a 75 ms step at batch 100. The zero passes through the
        # barrier so that no simplifier can know it is zero and drop the product.
        zero = _xla_barrier(tf.reduce_min(smallest) * 0.0)[0]
        products = [tf.linalg.matvec(tf.reshape(t, [-1, t.shape[-1]]), tf.fill([t.shape[-1]], tf.cast(zero, t.dtype)))
                    for t in big]
        smallest = tf.concat([smallest, tf.stack([_finite_share(v) for v in products])], 0)
    return tf.reduce_min(smallest) > 0.5


# make_train_loop staggers XLA's steps from this many trainable values on: MAF (5) at 784
# dimensions (12M) gains 1.5x at batch 100; P2's MAF (126,000) gains nothing and would
# take 18 s to compile instead of 10 (benchmarks/README.md, "2026-12-07").
STAGGER_FROM = 2**20


def stagger_pays() -> bool:
    """Whether this TensorFlow's XLA gains from the staggered loop: TF 2.17 and later. On
    TF 2.16 MAF (5) at 784 dimensions ran no faster staggered (0.94x zuko at batch 100,
    0.95-0.98x conditional) and its peak memory rose by 300-450 MB."""
    return xla_pays()  # the same TensorFlow versions as the evaluator's XLA rule


MATVEC_CHECK_ENTRIES = 2**16  # all_finite's product check from this many entries on (P2's kernels stay below)


def _finite_share(t):
    return tf.reduce_min(tf.cast(tf.math.is_finite(t), tf.float32))


def _matvec_checkable(t):
    shape = t.shape
    return (shape.rank is not None and shape.rank >= 2 and shape.is_fully_defined() and t.dtype.is_floating
            and shape.num_elements() >= MATVEC_CHECK_ENTRIES)


def make_train_loop(loss_fn: Callable[..., tf.Tensor], variables: Sequence[tf.Variable], optimizer: Any,
                    step_counter: tf.Variable, counters: Sequence[tf.Variable] = (), jit_compile: bool = False,
                    input_spec: Optional[tf.TensorSpec] = None,
                    staggered: Optional[bool] = None) -> Callable[..., Tuple[tf.Tensor, tf.Tensor]]:
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

    `staggered` (XLA only; default: on TF 2.17 and later, when the variables hold at
    least `STAGGER_FROM` values): the same steps, arranged so that no step's update waits behind a
    conditional (`_staggered_loop_of_steps`); it compiles the step twice, which a small
    model does not win back.
    """
    variables = list(variables)
    input_spec = input_spec or tf.TensorSpec([None, None], tf.int32)

    def compute(row, step):
        return loss_and_gradients(loss_fn, variables, row, step, compiled=jit_compile)

    def apply(grads):
        optimizer.apply_gradients(zip(grads, variables))

    if staggered is None:
        staggered = stagger_pays() and sum(int(v.shape.num_elements() or 0) for v in variables) >= STAGGER_FROM
    if jit_compile and staggered:
        return _staggered_loop_of_steps(compute, apply, variables, step_counter, counters, input_spec)
    return _loop_of_steps(compute, apply, step_counter, counters, jit_compile, input_spec)


def _staggered_loop_of_steps(compute, apply, variables, step_counter, counters, input_spec):
    """`_loop_of_steps` for XLA, the same steps and results, arranged so that no step's
    update sits in a conditional: step i's gradients are computed at the end of one
    pass through the loop and applied at the start of the next, and the loop's own
    condition (the last step finite, another step to go) decides whether that happens.
    Only the call's last step is applied behind a conditional.

    Why: with the update inside ``if finite:``, XLA waits for every gradient and
    materialises them all before any variable is updated; a step of MAF (5) at 784
    dimensions, batch 100, took 74-77 ms in that form and 54 ms in this one (a scratch
    timer, 20 steps per call; benchmarks/README.md, "2026-12-07: the trainer's loop at
    784 dimensions"). P2's model runs no faster this way and compiles in 18 s instead
    of 10 (the step is compiled twice), so `make_train_loop` staggers large models only.
    """
    counters = [step_counter, *counters]
    apply = tf.autograph.experimental.do_not_convert(apply)

    def compute_dense(row, step):
        """compute, with a gradient of zeros for a variable the loss does not reach (a
        loop variable cannot be None; Adam leaves such a variable where it is either way,
        its moments staying zero)."""
        loss, grads, finite = compute(row, step)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
        return tf.cast(loss, tf.float32), grads, finite

    @tf.function(jit_compile=True, input_signature=[input_spec, tf.TensorSpec([], tf.int32)])
    def run(inputs, n):
        losses = tf.TensorArray(tf.float32, size=tf.shape(inputs)[0], element_shape=[])
        first = step_counter.read_value()
        # Step 0 (none when n is 0: compiling the loop must change nothing, and a loss
        # may move batch-norm statistics).
        loss, grads, finite = tf.cond(
            n > 0, lambda: compute_dense(inputs[0], first),
            lambda: (tf.zeros([]), [tf.zeros_like(v) for v in variables], tf.constant(False)))
        losses = losses.write(0, loss)
        applied = tf.constant(0, tf.int32)
        i = tf.constant(0, tf.int32)
        while finite and i + 1 < n:  # step i finite and step i + 1 to run: apply i, compute i + 1
            apply(grads)
            applied += 1
            i += 1
            loss, grads, finite = compute_dense(inputs[i], first + tf.cast(i, first.dtype))
            losses = losses.write(i, loss)
        if finite:  # the call's last step, n - 1
            apply(grads)
            applied += 1
        for c in counters:
            c.assign_add(tf.cast(applied, c.dtype))
        return losses.stack(), applied

    return run


def _loop_of_steps(compute, apply, step_counter, counters, jit_compile, input_spec):
    """The compiled call: for steps 0..n-1, `compute(row, step) -> (loss, gradients,
    finite)`, then `apply(gradients)` when finite, else stop; advances the counters by
    the steps applied."""
    counters = [step_counter, *counters]
    # The optimizer's code needs no autograph (no Python branch on a tensor), and
    # converting it took 2.5 s of the 9 s it took to trace P2's loop; `compute` (which
    # runs the caller's loss) keeps it.
    apply = tf.autograph.experimental.do_not_convert(apply)

    @tf.function(jit_compile=jit_compile, input_signature=[input_spec, tf.TensorSpec([], tf.int32)])
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
            loss, grads, finite = compute(inputs[i], first + tf.cast(i, first.dtype))
            losses = losses.write(i, tf.cast(loss, tf.float32))
            if finite:
                apply(grads)
                applied += 1
            else:
                ok = tf.constant(False)
            i += 1
        for c in counters:
            c.assign_add(tf.cast(applied, c.dtype))
        return losses.stack(), applied

    return run


def make_distributed_train_loop(loss_fn, variables, optimizer, step_counter, strategy, counters=()):
    """`make_train_loop` under a `tf.distribute` strategy: same call, same results.

    Each step's row numbers (``inputs[i]``, the global batch) are cut into one
    contiguous slice per replica (replica r of R takes rows [r * w // R, (r + 1) * w // R)),
    every replica computes ``loss_fn(slice, step)`` weighted by its share of the batch
    and its gradients, the gradients are summed across replicas (all workers), and the
    step is applied on every replica or, when the summed loss or any summed gradient is
    not finite, on none: all replicas decide on the same numbers. Variables, the
    optimizer and the counters must have been created under ``strategy.scope()``.

    Not compiled with XLA as a whole (a strategy's cross-replica calls are not
    XLA-compilable); each replica's loss and gradients are. The returned call's
    ``contributions(row, step)`` gives each local replica's weighted loss and row count
    for one batch.
    """
    variables = list(variables)
    replicas = strategy.num_replicas_in_sync

    shapes = [v.shape for v in variables]
    sizes = [int(v.shape.num_elements()) for v in variables]
    dtype = variables[0].dtype

    @tf.function(jit_compile=True)
    def _compiled(rows, step, share):
        loss, grads, _ = loss_and_gradients(lambda r, s: loss_fn(r, s) * tf.cast(share, dtype), variables, rows,
                                            step)
        # One vector [loss, rows, every gradient]: one all-reduce per step instead of one
        # per variable (dozens of concurrent collectives per step made a multi-worker run
        # spawn thousands of threads).
        count = tf.cast(tf.shape(rows)[0], dtype)
        return tf.concat([tf.reshape(tf.cast(loss, dtype), [1]), tf.reshape(count, [1])]
                         + [tf.reshape(g, [-1]) for g in grads], 0)

    def replica_grads(rows, step, share):
        # An empty slice (a short batch of fewer rows than replicas) contributes nothing.
        return tf.cond(tf.size(rows) > 0, lambda: _compiled(rows, step, share),
                       lambda: tf.zeros([2 + sum(sizes)], dtype))

    def apply_on_replica(grads):
        optimizer.apply_gradients(zip(grads, variables), skip_gradients_aggregation=True)

    def apply(grads):
        strategy.run(apply_on_replica, args=(grads,))

    def per_replica(row, step):
        """Each replica's packed [weighted loss, rows, gradients] for the global batch `row`."""
        width = tf.shape(row)[0]

        def my_slice(ctx):
            r = ctx.replica_id_in_sync_group
            lo, hi = r * width // replicas, (r + 1) * width // replicas
            return row[lo:hi], tf.cast(hi - lo, tf.float32) / tf.cast(width, tf.float32)

        rows, share = strategy.experimental_distribute_values_from_function(my_slice)
        return strategy.run(replica_grads, args=(rows, step, share))

    def compute(row, step):
        packed = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica(row, step), axis=None)
        loss = packed[0]
        grads = [tf.reshape(g, shape) for g, shape in zip(tf.split(packed[2:], sizes), shapes)]
        return loss, grads, all_finite([packed])

    run = _loop_of_steps(compute, apply, step_counter, counters, False, tf.TensorSpec([None, None], tf.int32))

    @tf.function
    def contributions(row, step):
        """[local replicas, 2]: each replica's (loss weighted by its share, rows) for one
        global batch, without a step (to check how a batch is split)."""
        return tf.stack([p[:2] for p in strategy.experimental_local_results(per_replica(row, step))])

    run.contributions = contributions
    return run
