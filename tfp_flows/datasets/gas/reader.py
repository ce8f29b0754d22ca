"""Reading the UCI "Gas sensor array under dynamic gas mixtures" file (ethylene_CO.txt).

The file: one header line, then whitespace-separated rows of 19 numbers: time (s),
CO (ppm), ethylene (ppm) and 16 sensor readings; columns are named X1..X19 here, as
R's `read_table` named them in P2.

* `download_gas` fetches the UCI archive and extracts ``ethylene_CO.txt``.
* `read_gas` parses the text with a small exact C reader in parallel threads (NumPy's
  parser as the fallback) and caches the array under a key made of the file's sha256,
  so a second run does not parse text again.
"""

import contextlib
import hashlib
import mmap
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Union

import numpy as np

from tfp_flows.datasets.download import download, extract_member
from tfp_flows.files import atomic_path, remember_sha256, remembered_sha256

try:  # the C reader, built by `pip install -e .` where a C compiler is available
    from tfp_flows.datasets.gas import _gasparse
except ImportError:  # pragma: no cover - depends on the installation
    _gasparse = None

__all__ = ["GAS_COLUMNS", "GAS_HEADER", "GAS_URL", "N_COLUMNS", "download_gas", "read_gas"]

N_COLUMNS = 19
GAS_COLUMNS = [f"X{i}" for i in range(1, N_COLUMNS + 1)]
GAS_HEADER = "Time (seconds), CO conc (ppm), Ethylene conc (ppm), Sensor readings (16 channels)"
GAS_URL = ("https://archive.ics.uci.edu/static/public/322/"
           "gas+sensor+array+under+dynamic+gas+mixtures.zip")
GAS_MEMBER = "ethylene_CO.txt"


def download_gas(data_dir: Union[str, Path] = "data/gas", progress: bool = True) -> Path:
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
    # bytes, also when `raw` is a memory map and the file has no line end (at most 64 KB)
    header = bytes(raw[:min(len(raw) if nl < 0 else nl, 1 << 16)])
    if not any(ch.isalpha() for ch in header.decode(errors="replace").replace("nan", "").replace("inf", "")):
        _fail(path, 1, "expected a header line (time, CO, ethylene, 16 sensors) before the numbers")
    start = len(raw) if nl < 0 else nl + 1
    end = len(raw)
    if max_rows is not None and start < end:
        if max_rows <= 100_000:  # a few lines: find them one by one, not by scanning the file
            pos = start
            for _ in range(max_rows):
                j = raw.find(b"\n", pos)
                if j < 0:
                    break
                pos = j + 1
            else:
                end = pos
        else:
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
        try:
            values = np.fromstring(body, dtype=np.float64, sep=" ")  # C parser; any whitespace
        except ValueError:  # NumPy 2 refuses text it cannot read to the end (NumPy 1 stopped there, with a warning)
            _locate_problem(path, body, 2, max_rows)
            _fail(path, 2, "the numbers could not be read")
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


def read_gas(path: Union[str, Path], max_rows: Optional[int] = None, cache_dir: Optional[Union[str, Path]] = None,
             threads: Optional[int] = None) -> np.ndarray:
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
        raise ValueError(f"{path}: no such file")
    if cache_dir is None:
        with _mapped(path) as raw:
            return _parse(path, raw, max_rows, threads)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    memo = cache_dir / "hashes.json"
    digest = remembered_sha256(path, memo)
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
            remember_sha256(path, memo, digest)
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
