"""Score data with a trained flow: `tfp-flows-score --model DIR INPUT...`.

DIR is a model exported with `tfp-flows-export` or a finished run folder (GAS, speech or
VI). INPUTs are GAS-format text files (one line per row: the run's columns are picked
from the 19), plain tables of numbers (VI runs) or WAV files (speech runs: the run's
features are computed). Prints CSV, ``input,item,log_density,flagged``: item is the row
number or "clip", log_density is of the raw data, and flagged is 1 when it falls below
the run's threshold (a low quantile of held-out log-densities; empty when the run has
none). An input that cannot be read gets one line on standard error. Exit status 0 when
every input was scored, 1 when any could not be.
"""

import argparse
import csv
import sys
from pathlib import Path

from tfp_flows import cli

__all__ = ["entry_point", "main"]


def build_parser(prog="score"):
    p = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="an exported model folder or a finished run folder")
    p.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="text or WAV files to score")
    p.add_argument("--out", type=Path, default=None, help="write the CSV here (atomically) instead of stdout")
    return p


def main(argv=None, log=print, prog="score"):
    args = build_parser(prog).parse_args(argv)
    from tfp_flows.experiments.score import open_model, score
    from tfp_flows.files import atomic_path

    model = open_model(args.model)
    t = model.facts.get("threshold")
    if t:
        print(f"{prog}: flag threshold {t['value']:.4f} (log-density of raw data) = the {t['quantile']:g} "
              f"quantile of the run's {t['reference']}", file=sys.stderr)
    failed = 0

    def write(stream):
        nonlocal failed
        out = csv.writer(stream, lineterminator="\n")
        out.writerow(["input", "item", "log_density", "flagged"])
        for s in score(model, args.inputs):
            if s.error:
                failed += 1
                print(f"{prog}: error: {s.error}", file=sys.stderr)
                continue
            out.writerow([s.input, s.item, f"{s.log_density:.6f}", "" if s.flagged is None else int(s.flagged)])

    if args.out is None:
        write(sys.stdout)
    else:
        with atomic_path(args.out) as tmp, open(tmp, "w", newline="") as f:
            write(f)
    return 1 if failed else 0


def entry_point():
    sys.exit(cli.run(main, prog="score"))


if __name__ == "__main__":
    entry_point()
