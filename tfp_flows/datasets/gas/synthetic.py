"""GAS-format files with realistic near-duplicate sensor channels, for tests and offline runs.

The real UCI file cannot be downloaded everywhere (and is 536 MB); these files have its
header and column layout, so every step from reading to training runs on them.
"""

from pathlib import Path
from typing import Union

import numpy as np

from tfp_flows.datasets.gas.reader import GAS_COLUMNS, GAS_HEADER
from tfp_flows.files import atomic_path

__all__ = ["SYNTHETIC_GROUPS", "write_synthetic_gas"]

# Sensor groups of the synthetic file: channels in one group are near-copies of each
# other (r > 0.99); different groups are moderately correlated (r < 0.9).
SYNTHETIC_GROUPS = [["X4"], ["X5", "X6"], ["X7", "X8"], ["X9", "X10", "X11"],
                    ["X12", "X13", "X14"], ["X15", "X16"], ["X17"], ["X18", "X19"]]


def write_synthetic_gas(path: Union[str, Path], n_rows: int, seed: int = 0, progress: bool = False) -> Path:
    """Write a GAS-format file: the real header and 19 columns, with sensor channels in
    the near-duplicate groups `SYNTHETIC_GROUPS`.

    Time advances 0.01 s a row; CO and ethylene are piecewise-constant concentration
    programmes; each group's signal responds to both gases through its own gains and a
    slow drift, and each channel adds its own noise. Written in blocks, atomically.
    Returns the path.
    """
    if not isinstance(n_rows, (int, np.integer)) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    rng = np.random.default_rng(seed)
    n_groups = len(SYNTHETIC_GROUPS)
    gains = rng.uniform(0.3, 1.0, size=(n_groups, 2)) * rng.choice([-1, 1], size=(n_groups, 2))
    scales = rng.uniform(5, 60, size=16)
    offsets = rng.uniform(-60, 60, size=16)
    group_of = {}
    for g, names in enumerate(SYNTHETIC_GROUPS):
        for name in names:
            group_of[GAS_COLUMNS.index(name) - 3] = g
    block = 200_000
    state = {"co": 0.0, "eth": 0.0, "drift": np.zeros(n_groups)}
    with atomic_path(path) as tmp, open(tmp, "w") as out:
        out.write(GAS_HEADER + "\n")
        for start in range(0, n_rows, block):
            m = min(block, n_rows - start)
            t = (start + np.arange(m)) * 0.01
            change = rng.random(m) < 1 / 3000  # a new concentration step every ~30 s
            co_steps = np.where(change, rng.choice([0, 100, 200, 400, 533], m), np.nan)
            eth_steps = np.where(change, rng.choice([0, 50, 150, 300], m), np.nan)
            co = _hold(co_steps, state["co"])
            eth = _hold(eth_steps, state["eth"])
            state["co"], state["eth"] = co[-1], eth[-1]
            drift = state["drift"] + np.cumsum(rng.normal(0, 0.002, size=(m, n_groups)), axis=0)
            state["drift"] = drift[-1]
            base = (np.tanh(co[:, None] / 250) * gains[:, 0] + np.tanh(eth[:, None] / 150) * gains[:, 1]
                    + 0.6 * np.sin(drift) + 0.35 * rng.normal(size=(m, n_groups)))
            sensors = np.empty((m, 16))
            for c in range(16):
                own = rng.normal(0, 0.03, size=m)
                sensors[:, c] = offsets[c] + scales[c] * (base[:, group_of[c]] + own)
            rows = np.column_stack([t, co, eth, sensors])
            np.savetxt(out, rows, fmt="%.2f")
    return Path(path)


def _hold(steps, first):
    """Forward-fill NaNs in `steps`, starting from `first`."""
    idx = np.where(np.isnan(steps), 0, np.arange(len(steps)))
    np.maximum.accumulate(idx, out=idx)
    filled = steps[idx]
    return np.where(np.isnan(filled), first, filled)
