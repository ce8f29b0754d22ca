"""Preprocessing recipes for the GAS array: P2's ("blog") and the MAF paper's ("maf").

Both drop the time and concentration columns (X1..X3), drop sensor channels that are
near-copies of others (each recipe with its own rule), z-score, and split.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfp_flows.batches import batch_dataset
from tfp_flows.datasets.gas.reader import GAS_COLUMNS, N_COLUMNS

__all__ = ["GasSplits", "find_correlation_exact", "gas_dataset", "maf_correlation_rule",
           "maf_split_sizes", "prepare_gas"]

_P2_CUTOFF = 0.985
_MAF_THRESHOLD = 0.98


def find_correlation_exact(corr: np.ndarray, cutoff: float) -> List[int]:
    """Indices of columns to drop, as caret's `findCorrelation(..., exact = TRUE)` picks them.

    The rule (Kuhn's caret, R): order the variables by their mean absolute correlation
    with the others, largest first; walk the pairs (i, j), i < j, in that order; when
    |r_ij| > cutoff and neither is dropped yet, compare the mean absolute correlation of
    variable i (over the variables still in play) with the mean over the whole
    remaining matrix without row j, and drop i if its mean is larger, else j. Stops
    early once no remaining pair exceeds the cutoff.

    Args:
      corr: a symmetric [p, p] correlation matrix.
      cutoff: pairs with |r| > cutoff are candidates.

    Returns:
      Original column indices to drop, in caret's order.
    """
    a = np.abs(np.asarray(corr, dtype=np.float64))
    p = a.shape[0]
    if a.ndim != 2 or a.shape != (p, p):
        raise ValueError(f"corr must be a square matrix, got shape {a.shape}")
    if p < 2:
        raise ValueError("corr must describe at least two variables")
    if not np.allclose(a, a.T, atol=1e-8):
        raise ValueError("corr is not symmetric")
    off = a.copy()
    np.fill_diagonal(off, np.nan)
    order = np.argsort(-np.nanmean(off, axis=0), kind="stable")
    a = a[np.ix_(order, order)]
    x2 = off[np.ix_(order, order)]
    dropped = np.zeros(p, dtype=bool)
    for i in range(p - 1):
        remaining = x2[~np.isnan(x2)]
        if not np.any(remaining > cutoff):
            break
        if dropped[i]:
            continue
        for j in range(i + 1, p):
            if dropped[i] or dropped[j] or not a[i, j] > cutoff:
                continue
            mean_i = np.nanmean(x2[i, :])
            mean_rest = np.nanmean(np.delete(x2, j, axis=0))
            k = i if mean_i > mean_rest else j
            dropped[k] = True
            x2[k, :] = np.nan
            x2[:, k] = np.nan
    return [int(order[k]) for k in np.flatnonzero(dropped)]


def maf_correlation_rule(data: np.ndarray, threshold: float = _MAF_THRESHOLD) -> List[int]:
    """Indices kept by the MAF paper's rule: while a column has more than one entry
    r > threshold in its row of the correlation matrix (itself included), drop the
    first such column and recompute. Returns kept indices in their original order."""
    keep = list(range(data.shape[1]))
    while True:
        corr = np.corrcoef(data[:, keep], rowvar=False)
        counts = (corr > threshold).sum(axis=1)
        over = np.flatnonzero(counts > 1)
        if len(over) == 0:
            return keep
        del keep[over[0]]


def maf_split_sizes(n: int) -> Tuple[int, int, int]:
    """(n_train, n_val, n_test) of the MAF paper's sequential split of `n` rows: the last
    10% is the test set, the last 10% of the rest the validation set."""
    n_test = int(0.1 * n)
    n_val = int(0.1 * (n - n_test))
    return n - n_test - n_val, n_val, n_test


@dataclass
class GasSplits:
    """Preprocessed GAS data: float32 arrays [rows, D] and where they came from."""

    recipe: str
    columns_kept: List[str]
    train: np.ndarray
    test: np.ndarray
    val: Optional[np.ndarray] = None
    mean: np.ndarray = field(default=None, repr=False)
    std: np.ndarray = field(default=None, repr=False)

    @property
    def dims(self) -> int:
        return self.train.shape[1]

    def sizes(self) -> Dict[str, int]:
        return {"n_train": len(self.train), "n_val": 0 if self.val is None else len(self.val),
                "n_test": len(self.test)}


def prepare_gas(values: np.ndarray, recipe: str = "blog", seed: int = 0) -> GasSplits:
    """Preprocess a [rows, 19] GAS array with the `"blog"` (P2) or `"maf"` recipe.

    * ``blog``: drop X1..X3; drop the columns caret's exact `findCorrelation` flags at
      cutoff 0.985 (P2's code; its prose says 0.98); z-score each column (sample sd);
      random 50/50 train/test split with `seed`; no validation set.
    * ``maf``: drop X1..X3; the MAF paper's greedy rule at 0.98; z-score; the last 10%
      of rows is the test set, the last 10% of the rest validation; no shuffling.

    Raises:
      ValueError: unknown recipe, wrong shape, or too few rows for the split.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[1] != N_COLUMNS:
        raise ValueError(f"values must have shape [rows, {N_COLUMNS}], got {values.shape}")
    if recipe not in ("blog", "maf"):
        raise ValueError(f"recipe must be 'blog' or 'maf', got {recipe!r}")
    sensors = values[:, 3:].astype(np.float64)
    names = GAS_COLUMNS[3:]
    minimum = 2 if recipe == "blog" else 100
    if len(values) < minimum:
        raise ValueError(f"{len(values)} rows are too few for the {recipe!r} split (need {minimum})")
    with np.errstate(invalid="ignore", divide="ignore"):
        std0 = sensors.std(axis=0)
    if np.any(std0 == 0):
        const = [names[i] for i in np.flatnonzero(std0 == 0)]
        raise ValueError(f"column(s) {const} are constant: correlations are undefined")
    if recipe == "blog":
        dropped = set(find_correlation_exact(np.corrcoef(sensors, rowvar=False), _P2_CUTOFF))
        keep = [i for i in range(sensors.shape[1]) if i not in dropped]
    else:
        keep = maf_correlation_rule(sensors)
    kept = sensors[:, keep]
    mean, std = kept.mean(axis=0), kept.std(axis=0, ddof=1)
    z = ((kept - mean) / std).astype(np.float32)
    columns = [names[i] for i in keep]
    if recipe == "blog":
        perm = np.random.default_rng(seed).permutation(len(z))
        half = len(z) // 2
        return GasSplits("blog", columns, z[perm[:half]], z[perm[half:]], None, mean, std)
    n_train, n_val, n_test = maf_split_sizes(len(z))
    rest = z[: n_train + n_val]
    return GasSplits("maf", columns, rest[: len(rest) - n_val], z[len(z) - n_test:],
                     rest[len(rest) - n_val:], mean, std)


def gas_dataset(array: np.ndarray, batch_size: int, shuffle: bool = True, seed: int = 0,
                repeat: bool = False) -> tf.data.Dataset:
    """A split as a `tf.data.Dataset` of float32 batches [batch, D]: exactly the batches,
    in the order, that the trainer visits with the same batch size and seed (epoch 0,
    then 1, ... when `repeat`), from `tfp_flows.batches.batch_dataset`."""
    return batch_dataset(array, batch_size, seed=seed, epochs=None if repeat else 1, shuffle=shuffle)
