"""Score data with a trained flow: `tfp-flows-score --model DIR INPUT...`.

DIR is a model exported with `tfp-flows-export` or a finished run folder (GAS, table,
speech or VI). INPUTs are GAS-format text files (one line per row: the run's columns are
picked from the 19), tables of your own (table runs: CSV, TSV, Parquet or compressed
text, the run's columns and context columns found by name), plain tables of numbers (VI
runs) or audio files (speech runs: the run's features are computed). Prints CSV,
``input,item,log_density,flagged``: item is the row number or "clip", log_density is
of the raw data, and flagged is 1 when it falls below the run's threshold (a low
quantile of held-out log-densities; empty when the run has none). An input that cannot
be read gets one line on standard error. Exit status 0 when every input was scored, 1
when any could not be.
"""

import csv
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from tfp_flows._lazy import lazy_callable
from tfp_flows.cli.options import config_command
from tfp_flows.files import atomic_path

# TensorFlow: when the command runs
open_model = lazy_callable("tfp_flows.experiments.score:open_model")
score = lazy_callable("tfp_flows.experiments.score:score")

__all__ = ["ScoreConfig", "build_parser", "entry_point", "main", "score_inputs"]


@dataclass
class ScoreConfig:
    """What `tfp-flows-score` scores, with what, and where the CSV goes."""

    model: Optional[Path] = field(default=None, metadata={
        "help": "an exported model folder or a finished run folder", "required": True})
    inputs: List[Path] = field(default_factory=list, metadata={
        "help": "text, table or audio files to score", "positional": True, "metavar": "INPUT"})
    out: Optional[Path] = field(default=None, metadata={
        "help": "write the CSV here (atomically) instead of to standard output"})


def score_inputs(config, log=print, prog="score"):
    """Score every input, CSV to `config.out` or standard output, one line on standard
    error per input that cannot be read; returns the exit status (1 when any could not)."""
    model = open_model(config.model)
    t = model.facts.get("threshold")
    if t:
        print(f"{prog}: flag threshold {t['value']:.4f} (log-density of raw data) = the {t['quantile']:g} "
              f"quantile of the run's {t['reference']}", file=sys.stderr)
    failed = 0

    def write(stream):
        nonlocal failed
        out = csv.writer(stream, lineterminator="\n")
        out.writerow(["input", "item", "log_density", "flagged"])
        for s in score(model, config.inputs):
            if s.error:
                failed += 1
                print(f"{prog}: error: {s.error}", file=sys.stderr)
                continue
            out.writerow([s.input, s.item, f"{s.log_density:.6f}", "" if s.flagged is None else int(s.flagged)])

    if config.out is None:
        write(sys.stdout)
    else:
        with atomic_path(config.out) as tmp, open(tmp, "w", newline="") as f:
            write(f)
    return 1 if failed else 0


build_parser, main, entry_point = config_command("score", __doc__, ScoreConfig, "tfp_flows.cli.score:score_inputs")

if __name__ == "__main__":
    entry_point()
