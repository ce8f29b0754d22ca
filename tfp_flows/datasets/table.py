"""Your own table: a CSV, TSV or Parquet file read with pandas into the columns a flow
learns the density of and, for a conditional flow, the columns it is conditioned on.

Every problem with the table is one line that names the file and the row or column:
an unknown column, a missing value, a non-numeric value (dates and times included), a
column that is constant (nothing to learn) or too large to standardise, a header cell
left blank, too few rows. A text table may be compressed (``.csv.gz``, ``.tsv.bz2``,
``.txt.xz``). Rows are numbered as data rows from 1 (a CSV's header
is line 1, so data row r is on line r + 1).
"""

import bz2
import gzip
import lzma
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

__all__ = ["COMPRESSED", "MIN_ROWS", "SUFFIXES", "Table", "read_table", "split_rows", "standardise", "table_type"]

SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".parquet": None, ".pq": None}
# A text table may come compressed (data.csv.gz): pandas reads these, told which.
COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
MIN_ROWS = 20


class Table(NamedTuple):
    x: np.ndarray                  # [rows, D] float64
    context: Optional[np.ndarray]  # [rows, C] float64, or None
    columns: List[str]
    context_columns: List[str]


def _open_text(path: Path, compression: Optional[str]):
    opener = {None: open, "gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression]
    return opener(path, "rt", encoding="utf-8-sig")


def _txt_separator(path: Path, compression: Optional[str] = None) -> str:
    with _open_text(path, compression) as handle:
        header = handle.readline()
    return "," if "," in header else r"\s+"


def table_type(path: Path) -> Tuple[str, Optional[str]]:
    """(the table's type, e.g. ".csv", and its compression or None) from the file's name:
    ``data.csv.gz`` is a gzip-compressed CSV."""
    suffixes = [x.lower() for x in path.suffixes]
    compression = COMPRESSED.get(suffixes[-1]) if suffixes else None
    if compression:
        suffix = suffixes[-2] if len(suffixes) > 1 else ""
        if suffix not in SUFFIXES or suffix in (".parquet", ".pq"):
            raise ValueError(f"{path}: unknown table type {suffix + suffixes[-1]!r} (a compressed table is one of "
                             f"{', '.join(s + suffixes[-1] for s in ('.csv', '.tsv', '.tab', '.txt'))})")
        return suffix, compression
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unknown table type {suffix or '(no suffix)'!r} "
                         f"(expected one of {', '.join(sorted(SUFFIXES))}, or a text one ending in "
                         f"{', '.join(COMPRESSED)})")
    return suffix, None


def _frame(path: Path):
    suffix, compression = table_type(path)
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a table file")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        if suffix in (".parquet", ".pq"):
            try:
                return pd.read_parquet(path)
            except ValueError as err:  # pyarrow's ArrowInvalid, e.g. a damaged or non-Parquet file
                raise OSError(str(err)) from None
        # .txt: commas when its header line has one, else whitespace. (Not pandas' sniffing
        # reader: it parses decimals a last bit off round-trip and keeps a spreadsheet's
        # byte-order mark as an invisible start of the first column's name; this C reader
        # does neither.)
        sep = SUFFIXES[suffix] or _txt_separator(path, compression)
        # round_trip: every decimal written by a float64 reads back as the same float64
        return pd.read_csv(path, sep=sep, skipinitialspace=True, float_precision="round_trip",
                           compression=compression)
    except ImportError as err:
        raise ValueError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow): {err}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable table ({' '.join(str(err).split())})") from None


def _numeric(frame, name, path, check_range=True):
    """Column `name` as float64, or a ValueError naming the first bad row (`check_range`:
    also one whose values are too large to standardise)."""
    column = frame[name]
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        raise ValueError(f"{path}: column {name!r} holds dates or times ({column.dtype}), not numbers: leave it out "
                         "with --columns, or write it as a number of your choosing")
    missing = np.flatnonzero(column.isna().to_numpy())
    if len(missing):
        raise ValueError(f"{path}: data row {missing[0] + 1} has no value in column {name!r} "
                         f"({len(missing)} of {len(column)} rows have none)")
    values = pd.to_numeric(column, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        raise ValueError(f"{path}: column {name!r} is not numeric (data row {bad[0] + 1}: "
                         f"{str(column.iloc[bad[0]])[:40]!r})")
    values = values.to_numpy(np.float64)
    inf = np.flatnonzero(~np.isfinite(values))
    if len(inf):
        raise ValueError(f"{path}: column {name!r} holds {values[inf[0]]} at data row {inf[0] + 1}")
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.std(values - values.mean()) if check_range and len(values) else 0.0
    if not np.isfinite(spread):  # squares past float64's range: no standardisation can hold it
        row = int(np.argmax(np.abs(values)))
        raise ValueError(f"{path}: column {name!r} holds {values[row]:g} at data row {row + 1}, too large to "
                         "standardise (its values' squares pass 1.8e308); rescale the column")
    return values


def read_table(path: Union[str, Path], columns: Optional[Sequence[str]] = None, context_columns: Sequence[str] = (),
               check_spread: bool = True) -> Table:
    """The table at `path` as a `Table`: `columns` (default: every column not in
    `context_columns`) and `context_columns` (may be empty), each checked. Scoring new
    rows passes ``check_spread=False``: a few rows may well be constant in a column, and
    so may a single row.

    Raises:
      ValueError: one line naming the file and the row or column at fault.
    """
    path = Path(path)
    frame = _frame(path)
    names = [str(c).strip() for c in frame.columns]  # "a ,b": the names a user types are "a" and "b"
    if len(names) == 1 and len(frame) and any(m in names[0] and m in str(frame.iloc[0, 0]) for m in ";\t|"):
        # one column whose name and first value hold the same mark: another separator
        separated = {".csv": "commas", ".txt": "commas or whitespace"}.get(path.suffix.lower(), "tabs")
        raise ValueError(f"{path}: the header reads as one column, {names[0]!r}: a {path.suffix} table is "
                         f"separated by {separated} (.csv: commas, .tsv: tabs, .txt: commas or whitespace)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{path}: the header names column {repeated[0]!r} more than once")
    frame.columns = names
    context_columns = list(context_columns or [])
    if not columns:
        # A header cell left blank (pandas names it "Unnamed: i"), most often the row index
        # that pandas' to_csv writes: no density to learn, unless the user names it.
        blank = [(i, n) for i, n in enumerate(names) if n in ("", f"Unnamed: {i}") and n not in context_columns]
        if blank:
            i, n = blank[0]
            raise ValueError(f"{path}: column {i + 1} of the header has no name (read as {n!r}; a row index "
                             "written by pandas' to_csv?): name it in the header, or choose the columns with "
                             "--columns")
    columns = list(columns) if columns else [n for n in names if n not in context_columns]
    for name in columns + context_columns:
        if name not in names:
            raise ValueError(f"{path}: no column {name!r} (its columns: {', '.join(names)})")
    both = sorted(set(columns) & set(context_columns))
    if both:
        raise ValueError(f"{path}: {', '.join(both)} named both as a column and as a context column")
    for group in (columns, context_columns):
        twice = sorted({n for n in group if group.count(n) > 1})
        if twice:
            raise ValueError(f"{path}: column {twice[0]!r} named twice")
    if not columns:
        raise ValueError(f"{path}: no column left to learn (every column is a context column)")
    if check_spread and len(frame) < MIN_ROWS:
        raise ValueError(f"{path}: {len(frame)} data rows; at least {MIN_ROWS} are needed to train and test")
    x = np.stack([_numeric(frame, n, path, check_spread) for n in columns], axis=1)
    c = (np.stack([_numeric(frame, n, path, check_spread) for n in context_columns], axis=1)
         if context_columns else None)
    if not len(frame):
        raise ValueError(f"{path}: no data rows")
    for name, values in zip(columns, x.T if check_spread else ()):
        kinds = np.unique(values)
        if len(kinds) == 1:
            raise ValueError(f"{path}: column {name!r} is constant ({values[0]:g} in every row): it has no "
                             "density to learn; leave it out with --columns")
        if len(kinds) == 2:  # a yes/no column: its density is two spikes
            raise ValueError(f"{path}: column {name!r} takes only two values ({kinds[0]:g} and {kinds[1]:g}): a "
                             "flow learns densities of continuous values; make it a --context-columns or "
                             "leave it out with --columns")
    return Table(x, c, columns, context_columns)


def split_rows(n: int, seed: int, test_fraction: float = 0.1,
               val_fraction: float = 0.1) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) row indices of a seeded shuffle of `n` rows."""
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = max(1, round(n * test_fraction)), max(1, round(n * val_fraction))
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def standardise(values: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, sd) of `values[rows]` per column, the sd of a constant column set to 1."""
    mean = values[rows].mean(0)
    sd = values[rows].std(0, ddof=1)
    return mean, np.where(sd > 0, sd, 1.0)
