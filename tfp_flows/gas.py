"""The UCI "Gas sensor array under dynamic gas mixtures" data (file ethylene_CO.txt).

The file: one header line, then whitespace-separated rows of 19 numbers: time (s),
CO (ppm), ethylene (ppm) and 16 sensor readings; columns are named X1..X19 here, as
R's `read_table` named them in P2.

* `download_gas` fetches the UCI archive and extracts ``ethylene_CO.txt``.
* `read_gas` parses the text with a small exact C reader in parallel threads (NumPy's
  parser as the fallback) and caches the array under a key made of the file's sha256,
  so a second run does not parse text again.
* `prepare_gas` applies one of two preprocessing recipes (`"blog"`: P2's, `"maf"`: the
  MAF paper's) and records which original columns were kept.
* `gas_dataset` wraps a split in a shuffled, batched, prefetched `tf.data` pipeline.
* `write_synthetic_gas` writes a GAS-format file with realistic near-duplicate sensor
  channels, for tests and offline runs.
"""

import contextlib
import hashlib
import json
import mmap
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from tfp_flows.download import download, extract_member
from tfp_flows.files import atomic_path, write_json_atomic

try:  # the C reader, built by `pip install -e .` where a C compiler is available
    from tfp_flows import _gasparse
except ImportError:  # pragma: no cover - depends on the installation
    _gasparse = None

__all__ = [
    "GAS_COLUMNS",
    "GAS_HEADER",
    "GAS_URL",
    "GasSplits",
    "download_gas",
    "find_correlation_exact",
    "gas_dataset",
    "maf_correlation_rule",
    "maf_split_sizes",
    "prepare_gas",
    "read_gas",
    "write_synthetic_gas",
]

N_COLUMNS = 19
GAS_COLUMNS = [f"X{i}" for i in range(1, N_COLUMNS + 1)]
GAS_HEADER = "Time (seconds), CO conc (ppm), Ethylene conc (ppm), Sensor readings (16 channels)"
GAS_URL = ("https://archive.ics.uci.edu/static/public/322/"
           "gas+sensor+array+under+dynamic+gas+mixtures.zip")
GAS_MEMBER = "ethylene_CO.txt"
_P2_CUTOFF = 0.985
_MAF_THRESHOLD = 0.98


def download_gas(data_dir="data/gas", progress=True) -> Path:
    """Download the UCI archive (if needed) and extract ``ethylene_CO.txt``; returns its path.

    The archive's published sha256 is not known to this project; the first download
    records it in ``data_dir/gas.zip.sha256`` and later downloads are checked against it.
    """
    data_dir = Path(data_dir)
    target = data_dir / GAS_MEMBER
    if target.exists():
        return target
    archive = download(GAS_URL, data_dir / "gas.zip", checksum_file=data_dir / "gas.zip.sha256",
                       progress=progress)
    return extract_member(archive, GAS_MEMBER, target)


# ----------------------------------------------------------------------------- reading

def _fail(path, line, message):
    raise ValueError(f"{path}:{line}: {message}")


def _locate_problem(path, body, first_line_no, max_rows):
    """Slow, exact scan used only after the fast parser found something wrong."""
    for k, raw in enumerate(body.split(b"\n")):
        if max_rows is not None and k >= max_rows:
            break
        line_no = first_line_no + k
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != N_COLUMNS:
            what = "truncated last line" if k == body.count(b"\n") else "wrong number of columns"
            _fail(path, line_no, f"{what}: expected {N_COLUMNS} columns, found {len(fields)}")
        for c, f in enumerate(fields):
            try:
                v = float(f)
            except ValueError:
                _fail(path, line_no, f"column X{c + 1}: {f.decode(errors='replace')!r} is not a number")
            if not np.isfinite(v):
                _fail(path, line_no, f"column X{c + 1}: non-finite value {f.decode()!r}")


def _parse(path, raw, max_rows, threads=None):
    """Rows of `raw` (the file's bytes, or a memory map of them) as a float64 array
    [rows, 19], or a ValueError."""
    if re.search(rb"\S", raw) is None:  # (no copy of the file, unlike raw.strip())
        raise ValueError(f"{path}: the file is empty")
    nl = raw.find(b"\n")
    header = raw if nl < 0 else raw[:nl]
    if not any(ch.isalpha() for ch in header.decode(errors="replace").replace("nan", "").replace("inf", "")):
        _fail(path, 1, "expected a header line (time, CO, ethylene, 16 sensors) before the numbers")
    start = len(raw) if nl < 0 else nl + 1
    end = len(raw)
    if max_rows is not None and start < end:
        ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8, offset=start) == 10)
        if len(ends) >= max_rows:
            end = start + int(ends[max_rows - 1]) + 1
        del ends
    values = _parse_fast(raw, start, end, threads) if _gasparse is not None else None
    if values is None:  # no C reader, or something it leaves to the general parser
        values = _parse_general(path, raw[start:end], max_rows)
    if values.shape[0] == 0:
        raise ValueError(f"{path}: the file has a header but no data rows")
    return values


def _parse_fast(raw, start, end, threads=None):
    """The C reader (`_gasparse.c`) over raw[start:end], in pieces split at line ends and
    parsed by parallel threads; None when it meets anything it leaves to the general
    parser (exponents, nan, long numbers, and every malformed row, which that parser
    reports with its line number)."""
    n = end - start
    threads = threads or min(os.cpu_count() or 1, 8)
    threads = max(1, min(threads, n // (4 << 20) or 1))  # pieces of at least 4 MB
    cuts = [start]
    for t in range(1, threads):
        j = raw.find(b"\n", start + t * n // threads, end)
        cuts.append(end if j < 0 else max(cuts[-1], j + 1))
    cuts.append(end)
    pieces = [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    with memoryview(raw) as view, ThreadPoolExecutor(max(1, len(pieces))) as ex:
        # Row capacity of a piece: its line ends, plus one for an unterminated last line.
        caps = list(ex.map(lambda ab: _gasparse.count_lines(view[ab[0]:ab[1]]) + (view[ab[1] - 1] != 10),
                           pieces))
        starts = np.concatenate([[0], np.cumsum(caps)]).astype(int)
        out = np.empty((int(starts[-1]), N_COLUMNS))

        def run(i):
            a, b = pieces[i]
            return _gasparse.parse(view[a:b], out[starts[i]:starts[i + 1]], N_COLUMNS)

        results = list(ex.map(run, range(len(pieces))))
    if any(status != 0 for status, _, _ in results):
        return None
    rows = [r for _, r, _ in results]
    if rows == caps:  # no blank lines: the pieces already sit end to end
        return out
    return np.concatenate([out[s:s + r] for s, r in zip(starts, rows)])


def _parse_general(path, body, max_rows):
    """NumPy's general parser over `body` (bytes), with exact error messages (file:line: what)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(body, dtype=np.float64, sep=" ")  # C parser; any whitespace
    if values.size % N_COLUMNS or values.size // N_COLUMNS != _count_rows(body):
        _locate_problem(path, body, 2, max_rows)
        if values.size % N_COLUMNS:  # nothing specific found (e.g. odd blank lines)
            _fail(path, 2, f"could not split the numbers into rows of {N_COLUMNS}")
    values = values.reshape(-1, N_COLUMNS)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        _fail(path, _line_of_row(body, row), f"column X{col + 1}: non-finite value {values[row, col]}")
    return values


def _count_rows(body):
    """Number of data lines: newlines, plus an unterminated last line, minus empty lines
    (cheap counts; whitespace-only lines are rare and sent to the exact scan)."""
    n = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    return n - body.count(b"\n\n") - (1 if body.startswith(b"\n") else 0)


def _line_of_row(body, row):
    """File line number (1-based, header = 1) of data row `row` (0-based)."""
    k = -1
    for i, ln in enumerate(body.split(b"\n")):
        if ln.strip():
            k += 1
            if k == row:
                return i + 2
    return 2


def _remembered_hash(path, cache_dir):
    """The sha256 recorded for `path` if its size and mtime are unchanged, else None."""
    st = path.stat()
    try:
        hit = json.loads((cache_dir / "hashes.json").read_text()).get(str(path.resolve()))
    except (OSError, ValueError, AttributeError):
        return None
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return hit.get("sha256")
    return None


def _remember_hash(path, cache_dir, digest):
    memo_path = cache_dir / "hashes.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    st = path.stat()
    memo[str(path.resolve())] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    write_json_atomic(memo_path, memo)


def read_gas(path, max_rows=None, cache_dir=None, threads=None):
    """Read a GAS-format file into a float64 array of shape [rows, 19] (columns X1..X19).

    The text is parsed by a small C reader (`_gasparse.c`, built by `pip install -e .`)
    in parallel pieces, exactly (the same doubles as `float()`), and by NumPy's general
    parser when the reader is missing or meets something unusual (exponents, nan, very
    long numbers) or wrong (then the error names the line).

    Args:
      path: the text file (header line + whitespace-separated rows).
      max_rows: read only the first `max_rows` data rows (None: all).
      cache_dir: where parsed arrays are cached as .npy, keyed by the file's sha256 and
        `max_rows`; None disables the cache.
      threads: parser threads (default: the number of CPUs, at most 8).

    Raises:
      ValueError: one line naming the file and line (and column) for a missing or empty
        file, a missing header, a wrong number of columns, a non-numeric field, a NaN or
        inf, or a truncated last line.
    """
    path = Path(path)
    if max_rows is not None and (not isinstance(max_rows, (int, np.integer)) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
    if not path.exists():
        raise ValueError(f"{path}: no such file (get it with `make train-gas` or see README, 'GAS data')")
    if cache_dir is None:
        with _mapped(path) as raw:
            return _parse(path, raw, max_rows, threads)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = _remembered_hash(path, cache_dir)
    if digest is not None:
        cached = _cache_path(cache_dir, digest, max_rows)
        if cached.exists():
            try:
                return np.load(cached, mmap_mode=None)
            except (OSError, ValueError):
                pass  # a damaged cache entry is rebuilt below
    with _mapped(path) as raw:
        if digest is None:  # hash while parsing (hashlib releases the GIL on large buffers)
            with ThreadPoolExecutor(1) as ex:
                hashing = ex.submit(lambda: hashlib.sha256(raw).hexdigest())
                values = _parse(path, raw, max_rows, threads)
                digest = hashing.result()
            _remember_hash(path, cache_dir, digest)
        else:
            values = _parse(path, raw, max_rows, threads)
    with atomic_path(_cache_path(cache_dir, digest, max_rows)) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, values)
    return values


@contextlib.contextmanager
def _mapped(path):
    """The file's bytes, memory-mapped (no copy; read-only) when it is not empty."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            yield b""
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield mm


def _cache_path(cache_dir, digest, max_rows):
    return cache_dir / f"gas-{digest[:20]}-{max_rows or 'all'}.npy"


# ----------------------------------------------------------------------- preprocessing

def find_correlation_exact(corr, cutoff):
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


def maf_correlation_rule(data, threshold=_MAF_THRESHOLD):
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


def maf_split_sizes(n):
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
    def dims(self):
        return self.train.shape[1]

    def sizes(self):
        return {"n_train": len(self.train), "n_val": 0 if self.val is None else len(self.val),
                "n_test": len(self.test)}


def prepare_gas(values, recipe="blog", seed=0):
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


def gas_dataset(array, batch_size, shuffle=True, seed=0, repeat=False):
    """A `tf.data.Dataset` of float32 batches [batch, D] from a split: shuffled (each epoch,
    with `seed`), batched, prefetched."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(np.asarray(array, dtype=np.float32))
    if shuffle:
        ds = ds.shuffle(min(len(array), 200_000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------- synthetic files

# Sensor groups of the synthetic file: channels in one group are near-copies of each
# other (r > 0.99); different groups are moderately correlated (r < 0.9).
SYNTHETIC_GROUPS = [["X4"], ["X5", "X6"], ["X7", "X8"], ["X9", "X10", "X11"],
                    ["X12", "X13", "X14"], ["X15", "X16"], ["X17"], ["X18", "X19"]]


def write_synthetic_gas(path, n_rows, seed=0, progress=False):
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
