"""P2's audio protocol over features x splits x seeds, as one table (`tfp-flows-speech-table`).

Trains one `tfp-flows-train-speech` run per feature, split and seed (in
<out>/<feature>-<split>-seed<seed>; a finished run with the same settings is reused, an
interrupted one resumes) and prints, per feature and split, the mean and spread over the
seeds of: the held-out target clips' log-likelihood, how many other words score above
them, the overall AUC, the lowest and the median per-word AUC. The table is written to
<out>/table.md and table.json. Every training option of train-speech applies to all runs.

    tfp-flows-speech-table --data data/free_spoken_digits --no-download \\
        --features p2 logmel mfccseg --splits p2 official --seeds 0 1 2 --out runs/real-voices
"""

import argparse
import dataclasses
import sys
from pathlib import Path

from tfp_flows import cli
from tfp_flows._lazy import lazy_callable
from tfp_flows.cli.options import add_config_options, config_from_args
from tfp_flows.errors import UsageError
from tfp_flows.experiments.configs import SpeechConfig

protocol_table = lazy_callable("tfp_flows.experiments.speech_table:protocol_table")  # TensorFlow: when it runs

__all__ = ["build_parser", "entry_point", "main"]

PROG = "tfp-flows-speech-table"


def build_parser():
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    choices = {f.name: f.metadata.get("choices") for f in dataclasses.fields(SpeechConfig)}
    parser.add_argument("--features", nargs="+", choices=choices["features"], default=["p2", "logmel"],
                        help="clip features, one row each (default: p2 logmel)")
    parser.add_argument("--splits", nargs="+", choices=choices["split"], default=["p2", "official"],
                        help="splits, one row each (default: p2 official)")
    parser.add_argument("--seeds", nargs="+", type=cli.nonnegative_int, default=[0, 1, 2],
                        help="seeds of each row's runs (default: 0 1 2)")
    parser.add_argument("--out", type=Path, default=Path("runs/speech-table"),
                        help="folder of the runs and the table (default: runs/speech-table)")
    return add_config_options(parser, SpeechConfig, exclude=("features", "split", "seed", "out", "resume"))


def main(argv=None, log=print):
    args = build_parser().parse_args(argv)
    for name in ("features", "splits", "seeds"):
        values = getattr(args, name)
        if len(set(values)) != len(values):
            raise UsageError(f"--{name} lists a value twice: {' '.join(map(str, values))}")
    config = config_from_args(SpeechConfig, args, features=args.features[0], out=None)

    protocol_table(config, args.features, args.splits, args.seeds, args.out, log=log)
    return 0


def entry_point():
    sys.exit(cli.run(main, prog=PROG))


if __name__ == "__main__":
    entry_point()
