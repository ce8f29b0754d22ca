"""MADE (`tfb.AutoregressiveNetwork`) whose masked products skip the kernel's zero blocks.

TFP's MADE multiplies each layer's input by its whole kernel, masked entries included.
With the inputs in their natural order and TFP's "equal" hidden degrees (sorted), every
mask is a staircase: a column (a unit of the next layer) reads a prefix of the rows (the
units of degree up to its own). Cut the columns into a few contiguous groups: each group
reads only the rows up to its last column's prefix, so its product is a smaller dense
product and the rows past it, all masked, are never multiplied. At 784 inputs and 1024
hidden units (the MAF paper's image MADE), half of every kernel is masked and 8 groups
skip 44% of the arithmetic.

`BlockMADE` subclasses TFP's layer: the masks and initialisation are TFP's, and its
output equals TFP's network on the same weights (tests/flows/test_made.py compares the
two, and their gradients). A grouped kernel is kept in one of two ways:

- ``kernels="blocks"`` (the default): each group's block is a variable of its own, drawn
  from TFP's masked initial kernel. Nothing outside the blocks exists, so the optimizer
  updates 62% of the entries, no product copies a slice of a larger kernel, and no
  gradient is padded. Masked entries inside a block start at zero and their gradient is
  set to zero, so Adam (or any update that leaves a zero gradient's weight alone) keeps
  them zero without TFP's masking constraint. The layer's checkpoint holds the blocks
  (``kernel_<layer>_block_<group>``) in place of TFP's kernel.
- ``kernels="dense"``: TFP's whole kernels, masking constraint and checkpoint layout
  (what runs recorded before the blocks existed were trained with); only the products
  are grouped (`grouped_matmul`).

No maintained library offers the grouped product or the block storage, so both are
written here.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

tfb = tfp.bijectors

__all__ = ["BlockMADE", "KERNEL_LAYOUTS", "column_groups"]

KERNEL_LAYOUTS = ("blocks", "dense")

# A kernel whose masked product would skip less than this share of its arithmetic, or
# with fewer entries than this, is multiplied whole: the extra products and concats cost
# more than they save (a grouped 100 x 100 MADE made nsf 13% and conditional MAF 38%
# slower at batch 1000; the 784 x 1024 image MADE trains 1.28x faster in 4 groups).
MIN_SAVING = 0.2
MIN_ENTRIES = 2**18


def column_groups(mask: np.ndarray, groups: int, min_entries: int = MIN_ENTRIES) -> List[Tuple[int, int, int]]:
    """Cut the columns of a boolean `mask` [rows, cols] into at most `groups` contiguous
    groups of near-equal width: a list of (first column, end column, rows read), where
    rows read is one past the last row any column of the group reads. One group of the
    whole kernel when grouping would skip less than `MIN_SAVING` of it, when the kernel
    has fewer than `min_entries` entries, or when `groups` <= 1.

    >>> m = np.tril(np.ones((4, 4), bool)).T  # column j reads rows 0..j
    >>> column_groups(m, 2, min_entries=0)
    [(0, 2, 2), (2, 4, 4)]
    >>> column_groups(m, 2)  # too small to pay
    [(0, 4, 4)]
    """
    rows, cols = mask.shape
    whole = [(0, cols, rows)]
    if groups <= 1 or cols < 2 or rows * cols < min_entries:
        return whole
    edges = np.unique(np.linspace(0, cols, min(groups, cols) + 1).round().astype(int))
    reads = mask.any(axis=1)
    plan = []
    for start, end in zip(edges[:-1], edges[1:]):
        used = np.flatnonzero(mask[:, start:end].any(axis=1))
        plan.append((int(start), int(end), int(used[-1]) + 1 if used.size else 0))
    computed = sum((end - start) * read for start, end, read in plan)
    if not reads.any() or computed > (1 - MIN_SAVING) * rows * cols:
        return whole
    return plan


def grouped_matmul(h: tf.Tensor, kernel: tf.Tensor, groups: Sequence[Tuple[int, int, int]]) -> tf.Tensor:
    """``h @ kernel`` for a kernel that is zero outside the blocks `groups` names (from
    `column_groups`), multiplying only those blocks, with a gradient that does the same.

    Autodiff of the sliced products would pad each group's gradient to the kernel's (and
    the input's) full size and add the pads up, which costs about what the skipped
    products saved. Here every gradient is assembled by concatenation: the kernel's
    group by group (each padded with zero rows below what it reads), the input's by row
    bands, where the rows between two groups' reads are read by that group and every
    later one, so each band is one product with a suffix of the columns."""
    bands = []  # (first row, end row, first column reading them)
    top = 0
    for start, _, read in groups:
        if read > top:
            bands.append((top, read, start))
            top = read
    rows = int(kernel.shape[0])

    @tf.custom_gradient
    def product(h, kernel):
        out = tf.concat([tf.matmul(h[:, :read], kernel[:read, start:end]) if read else
                         tf.zeros(tf.stack([tf.shape(h)[0], end - start]), h.dtype)
                         for start, end, read in groups], axis=-1)

        def grad(d_out):
            d_h = [tf.matmul(d_out[:, first:], kernel[lo:hi, first:], transpose_b=True) for lo, hi, first in bands]
            if top < rows:
                d_h.append(tf.zeros(tf.stack([tf.shape(h)[0], rows - top]), h.dtype))
            d_kernel = []
            for start, end, read in groups:
                block = tf.matmul(h[:, :read], d_out[:, start:end], transpose_a=True)
                d_kernel.append(tf.concat([block, tf.zeros([rows - read, end - start], h.dtype)], axis=0))
            return tf.concat(d_h, axis=-1), tf.concat(d_kernel, axis=-1)
        return out, grad
    return product(h, kernel)


def block_matmul(h: tf.Tensor, blocks: Sequence[tf.Tensor], groups: Sequence[Tuple[int, int, int]],
                 limits: Sequence[np.ndarray]) -> tf.Tensor:
    """``h @ kernel`` for a kernel kept as the blocks of `groups` (`column_groups`): block g
    is ``kernel[:read_g, start_g:end_g]``, and its column j reads the rows below
    ``limits[g][j]`` (the rest of the column is masked). The kernels' gradients are zero
    at masked entries; the input's gradient is put together band by band (the rows
    between two consecutive reads are read by every group from the first of them on)."""
    reads = [read for _, _, read in groups]
    rows = int(h.shape[-1])
    edges = sorted({0, rows, *reads})
    limits = [tf.constant(np.asarray(limit, np.int32)) for limit in limits]

    @tf.custom_gradient
    def product(h, *blocks):
        out = tf.concat([tf.matmul(h[:, :read], block) if read else
                         tf.zeros(tf.stack([tf.shape(h)[0], end - start]), h.dtype)
                         for block, (start, end, read) in zip(blocks, groups)], axis=-1)

        def grad(d_out):
            parts = [tf.matmul(d_out[:, start:end], block, transpose_b=True) if read else None
                     for block, (start, end, read) in zip(blocks, groups)]
            d_h = []
            for lo, hi in zip(edges[:-1], edges[1:]):
                terms = [part[:, lo:hi] for part, read in zip(parts, reads) if read >= hi]
                d_h.append(tf.add_n(terms) if terms else tf.zeros(tf.stack([tf.shape(h)[0], hi - lo]), h.dtype))
            d_blocks = []
            for limit, (start, end, read) in zip(limits, groups):
                product_ = tf.matmul(h[:, :read], d_out[:, start:end], transpose_a=True)
                reached = tf.range(read)[:, None] < limit[None, :]
                d_blocks.append(tf.where(reached, product_, tf.zeros_like(product_)))
            return (tf.concat(d_h, axis=-1), *d_blocks)
        return out, grad
    return product(h, *blocks)


def _prefix_limits(mask: np.ndarray) -> Optional[np.ndarray]:
    """Per column, how many leading rows it reads, when every column of the boolean
    `mask` reads a prefix of the rows (TFP's masks with inputs in order and sorted hidden
    degrees); None otherwise."""
    limits = mask.sum(axis=0)
    return limits if np.array_equal(mask, np.arange(mask.shape[0])[:, None] < limits[None, :]) else None


class _Grouping:
    """What `BlockMADE.call` walks: the masked Dense layers with their column groups, the
    context's Dense layer, the activation, and the blocks of each kernel kept as blocks.
    A plain object, so that Keras does not track the layers a second time (the
    checkpoint's object graph is TFP's, but for the kept blocks, which the MADE itself
    tracks)."""

    def __init__(self, plan, context_layer, activation):
        self.plan, self.context_layer, self.activation = plan, context_layer, activation
        self.blocks = [None] * len(plan)  # per layer: (its block variables, their column limits) when kept as blocks


class BlockMADE(tfb.AutoregressiveNetwork):
    """`tfb.AutoregressiveNetwork` (same arguments) whose large masked layers multiply
    only the kernel blocks their mask can reach; `groups` (keyword, default 4) bounds the
    column groups per layer, 1 gives TFP's products; a kernel of fewer than `min_entries`
    entries is multiplied whole (see `MIN_ENTRIES`); `kernels` keeps a grouped kernel as
    its blocks ("blocks") or as TFP's whole kernel ("dense"; see the module's docstring).
    A conditional network must read its context at the first layer
    (``conditional_input_layers="first_layer"``, the suite's choice); any other set-up or
    a kernel constraint of the caller's is computed by TFP's own network."""

    def __init__(self, *args, groups: int = 4, min_entries: int = MIN_ENTRIES, kernels: str = "blocks",
                 **kwargs) -> None:
        if kernels not in KERNEL_LAYOUTS:
            raise ValueError(f"kernels must be one of {', '.join(KERNEL_LAYOUTS)}, got {kernels!r}")
        super().__init__(*args, **kwargs)
        self._groups, self._min_entries, self._kernels = int(groups), int(min_entries), kernels
        self._grouping = None

    def build(self, input_shape):
        super().build(input_shape)
        masked, context = self._dense_layers()
        shapes_match = len(masked) == len(self._masks) and all(
            tuple(layer.kernel.shape) == mask.shape for layer, mask in zip(masked, self._masks))
        first_layer_only = not self._conditional or (self._conditional_layers == "first_layer" and len(context) == 1)
        plan = [column_groups(np.asarray(mask), self._groups, self._min_entries) for mask in self._masks]
        if shapes_match and first_layer_only and self._kernel_constraint is None and any(len(g) > 1 for g in plan):
            self._grouping = _Grouping(list(zip(masked, plan)), context[0] if self._conditional else None,
                                       tf_keras.activations.get(self._activation))
            if self._kernels == "blocks":
                self._keep_blocks()

    def _dense_layers(self):
        """(the masked Dense layers, the context's Dense layers) of TFP's network: TFP gives
        the masked ones its masking constraint."""
        dense = [layer for layer in self._network.layers if isinstance(layer, tf_keras.layers.Dense)]
        return ([layer for layer in dense if layer.kernel_constraint is not None],
                [layer for layer in dense if layer.kernel_constraint is None])

    def _keep_blocks(self):
        """Replace each grouped kernel by its blocks: new variables holding TFP's initial
        values, the whole kernel removed from the layer and from its checkpoint."""
        g = self._grouping
        for k, ((layer, groups), mask) in enumerate(zip(g.plan, self._masks)):
            mask = np.asarray(mask, bool)
            limits = [_prefix_limits(mask[:read, start:end]) for start, end, read in groups]
            if len(groups) == 1 or any(limit is None for limit in limits):
                continue
            with tf.init_scope():  # the initial values, also when first called inside a tf.function
                kernel = tf.convert_to_tensor(layer.kernel)
            blocks = [self.add_weight(name=f"kernel_{k}_block_{i}", shape=(read, end - start), dtype=layer.kernel.dtype,
                                      initializer=_Slice(kernel, read, start, end), trainable=True)
                      for i, (start, end, read) in enumerate(groups)]
            # Keras' attribute deletion drops the variable from the layer's weights; the
            # checkpoint dependency is dropped with Trackable's own `_delete_tracking`.
            del layer.kernel
            layer._delete_tracking("kernel")
            g.blocks[k] = (blocks, limits)

    def kernel_entries(self) -> List[Tuple[List[tf.Variable], int, int]]:
        """Per masked kernel: (the variables holding it: the kernel, or its blocks; its
        entries, masked ones included; the entries its product multiplies): what an
        arithmetic count should use. Empty before the network is built."""
        if not self.built:
            return []
        if self._grouping is None:
            return [([layer.kernel], int(np.prod(mask.shape)), int(np.prod(mask.shape)))
                    for layer, mask in zip(self._dense_layers()[0], self._masks)]
        entries = []
        for (layer, groups), mask, kept in zip(self._grouping.plan, self._masks, self._grouping.blocks):
            held = kept[0] if kept else [layer.kernel]
            entries.append((held, int(np.prod(mask.shape)), sum((end - start) * read for start, end, read in groups)))
        return entries

    def whole_kernels(self) -> List[tf.Tensor]:
        """Each masked layer's whole kernel [rows, cols], as TFP's network holds it (blocks
        put together, zeros elsewhere): to compare with or load into TFP's network."""
        masked = self._dense_layers()[0]
        kept = self._grouping.blocks if self._grouping is not None else [None] * len(masked)
        kernels = []
        for layer, mask, blocks in zip(masked, self._masks, kept):
            if not blocks:
                kernels.append(tf.convert_to_tensor(layer.kernel))
                continue
            rows = mask.shape[0]
            kernels.append(tf.concat([tf.pad(tf.convert_to_tensor(block), [[0, rows - block.shape[0]], [0, 0]])
                                      for block in blocks[0]], axis=1))
        return kernels

    def call(self, x, conditional_input=None):
        x = tf.convert_to_tensor(x, dtype=self.dtype, name="x")
        g = self._grouping
        if g is None:
            return super().call(x, conditional_input=conditional_input)
        c = None if not self._conditional or conditional_input is None else tf.convert_to_tensor(
            conditional_input, dtype=self.dtype)
        matrices = x.shape.rank == 2 and (not self._conditional or (c is not None and c.shape.rank == 2))
        if not matrices:
            if not any(g.blocks):  # TFP's network takes any batch shape
                return super().call(x, conditional_input=conditional_input)
            return self._call_flattened(x, c)
        h = x
        for k, (layer, groups) in enumerate(g.plan):
            if g.blocks[k]:
                blocks, limits = g.blocks[k]
                h = block_matmul(h, [tf.convert_to_tensor(b) for b in blocks], groups, limits)
            else:
                kernel = tf.convert_to_tensor(layer.kernel)
                h = tf.matmul(h, kernel) if len(groups) == 1 else grouped_matmul(h, kernel, groups)
            if layer.bias is not None:
                h = h + layer.bias
            if k == 0 and g.context_layer is not None:
                h = h + g.context_layer(c)
            if k + 1 < len(g.plan):
                h = g.activation(h)
        return tf.reshape(h, tf.concat([tf.shape(h)[:-1], [self._event_size, self._params]], axis=0))

    def _call_flattened(self, x, c):
        """The network on inputs of any batch shape (a context broadcast against them), as
        one matrix of rows; the output takes the batch shape back."""
        if self._conditional and c is None:
            raise ValueError("this MADE is conditional: pass conditional_input")
        dims = self._event_size
        batch = tf.shape(x)[:-1]
        if c is not None:
            batch = tf.broadcast_dynamic_shape(batch, tf.shape(c)[:-1])
            c = tf.reshape(tf.broadcast_to(c, tf.concat([batch, tf.shape(c)[-1:]], 0)), [-1, c.shape[-1]])
        rows = tf.reshape(tf.broadcast_to(x, tf.concat([batch, [dims]], 0)), [-1, dims])
        out = self.call(rows, conditional_input=c)
        return tf.reshape(out, tf.concat([batch, [self._event_size, self._params]], 0))


class _Slice(tf_keras.initializers.Initializer):
    """An initializer giving ``kernel[:read, start:end]`` of a kernel drawn already."""

    def __init__(self, kernel, read, start, end):
        self._value = kernel[:read, start:end]

    def __call__(self, shape, dtype=None, **kwargs):
        return tf.cast(self._value, dtype or self._value.dtype)
