"""Scoring new data with a trained flow: per-row (or per-clip) log-density and flag.

`open_model(path)` takes an exported SavedModel folder (see `export`) or a finished run
folder; `score(model, inputs)` yields one `Scored` per row of a GAS-format (or, for VI
runs, plain numeric) text file, per row of a table (CSV, TSV, Parquet) for table runs
and per audio clip, and a `Scored` with an `error` for
each input that cannot be read. Log-densities are of the raw data; an item is flagged
when it falls below the run's threshold (a low quantile of held-out log-densities).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np
import tensorflow as tf

from tfp_flows.datasets.gas import GAS_COLUMNS, read_gas
from tfp_flows.datasets.speech import FEATURES, read_clip
from tfp_flows.datasets.table import read_table
from tfp_flows.experiments.export import SIDECAR, RunModel

__all__ = ["Scored", "open_model", "score"]

AUDIO_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3"}


@dataclass
class Scored:
    input: str
    item: str
    log_density: Optional[float] = None
    flagged: Optional[bool] = None
    error: Optional[str] = None


@dataclass
class _Model:
    module: object  # held so that its variables live as long as `log_prob` is used
    facts: dict

    @property
    def log_prob(self):
        return self.module.log_prob


def open_model(path: Union[str, Path]) -> Any:
    """A model to score with: a SavedModel folder written by `export_run`, or a run folder.

    Raises:
      ValueError: one line naming the folder when it is neither.
    """
    path = Path(path)
    if (path / "saved_model.pb").exists():
        try:
            facts = json.loads((path / SIDECAR).read_text())
        except (OSError, ValueError):
            raise ValueError(f"{path}: a SavedModel without {SIDECAR}; export it with tfp-flows-export") from None
        return _Model(tf.saved_model.load(str(path)), facts)
    if (path / "results.json").exists():
        model, facts = RunModel.from_run(path)
        facts["dims"] = model.flow.dims
        return _Model(model, facts)
    raise ValueError(f"{path}: neither an exported model (saved_model.pb) nor a finished run (results.json)")


def _rows(path, facts):
    """[rows, D] float32 of a text file: GAS-format (the run's columns picked), a table
    with a header (the run's columns picked; (x, context) for a conditional run), or plain."""
    if facts["kind"] == "table":
        table = read_table(path, facts["columns"], facts.get("context_columns") or (), check_spread=False)
        x = table.x.astype(np.float32)
        return x if table.context is None else (x, table.context.astype(np.float32))
    if facts["kind"] == "gas":
        values = read_gas(path)
        return values[:, [GAS_COLUMNS.index(c) for c in facts["columns"]]].astype(np.float32)
    try:
        values = np.loadtxt(path, ndmin=2, dtype=np.float64)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a table of numbers ({' '.join(str(err).split())})") from None
    if values.shape[1] != facts["dims"] or not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: expected rows of {facts['dims']} finite numbers, got {values.shape[1]} columns")
    return values.astype(np.float32)


def _clip_features(path, facts):
    if facts["kind"] != "speech":
        raise ValueError(f"{path}: an audio file, but the model was trained on {facts['kind']} data")
    return np.asarray(FEATURES[facts["features"]](read_clip(path)[None]), np.float32)


def _read_input(path, facts):
    """(values [n, D] float32, item names) of one input: an audio clip or a table of rows."""
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a file")
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return _clip_features(path, facts), ["clip"]
    x = _rows(path, facts)
    return x, [str(i + 1) for i in range(len(x[0] if isinstance(x, tuple) else x))]


def _one_line(path, err):
    """A one-line reason naming the input; errors other than ValueError/OSError (which
    already name it) say what kind they are."""
    text = " ".join(str(err).split())
    if isinstance(err, (ValueError, OSError)):
        return text if str(path) in text else f"{path}: {text}"
    return f"{path}: could not be read ({type(err).__name__}: {text})"


def score(model: Any, inputs: Iterable[Union[str, Path]], batch_size: int = 20_000) -> Iterator[Scored]:
    """Yield a `Scored` for every row or clip of `inputs` (paths), or one with an `error`
    for an input that cannot be read."""
    threshold = (model.facts.get("threshold") or {}).get("value")
    for path in map(Path, inputs):
        try:
            x, items = _read_input(path, model.facts)
        except Exception as err:  # one input that cannot be read never stops the others
            yield Scored(str(path), "", error=_one_line(path, err))
            continue
        parts = x if isinstance(x, tuple) else (x,)  # a conditional run's rows come with their context
        for start in range(0, len(parts[0]), batch_size):
            values = np.asarray(model.log_prob(*(t[start:start + batch_size] for t in parts)), np.float64)
            for item, v in zip(items[start:start + batch_size], values):
                yield Scored(str(path), item, float(v), None if threshold is None else bool(v < threshold))
