"""Where the speech sits in each folder's clips: what P2's 512-sample feature can see (`tfp-flows-speech-onsets`).

For every clip of each folder (Speech Commands layout; decoded to 16 kHz like the
pipeline): is the word already sounding in the first 512 samples, the only ones P2's
feature looks at? Prints, per folder, the fraction of clips whose first 512 samples are
at least --margin-db above the clip's noise floor (the 10th percentile of its 512-sample
frames), the fraction within --peak-db of its loudest frame, and medians of the first
frame's level and energy share (`tfp_flows.experiments.onsets`). --json FILE writes them.

    tfp-flows-speech-onsets data/free_spoken_digits data/speech_commands_v0.01
"""

import argparse
import sys
from pathlib import Path

from tfp_flows import cli
from tfp_flows._lazy import lazy_callable
from tfp_flows.errors import UsageError
from tfp_flows.files import write_json_atomic

onset_report = lazy_callable("tfp_flows.experiments.onsets:onset_report")  # TensorFlow: when the command runs

__all__ = ["build_parser", "entry_point", "main"]

PROG = "tfp-flows-speech-onsets"


def build_parser():
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="folders of clips in the Speech Commands layout")
    parser.add_argument("--margin-db", type=cli.positive_float, default=10.0,
                        help="speech: the first frame this many dB above the clip's noise floor (default: 10)")
    parser.add_argument("--peak-db", type=cli.positive_float, default=20.0,
                        help="speaking level: the first frame within this many dB of the loudest (default: 20)")
    parser.add_argument("--max-clips", type=cli.positive_int, default=None,
                        help="read this many clips of each folder, drawn at random (default: all)")
    cli.add_seed_option(parser, 0, "seed of --max-clips' draw")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return parser


def main(argv=None, log=print):
    args = build_parser().parse_args(argv)
    for folder in args.folders:
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder")

    reports = [onset_report(f, args.max_clips, args.margin_db, args.peak_db, args.seed) for f in args.folders]
    log(f"| folder | clips | first 512 samples >= {args.margin_db:g} dB above floor | within {args.peak_db:g} dB "
        "of peak | first frame above floor (median dB) | below peak (median dB) | energy share (median) | "
        "recording (median s) |")
    log("|---|---|---|---|---|---|---|---|")
    for r in reports:
        log(f"| {r['folder']} | {r['clips']} | {r['fraction_speech_in_first_frame']:.1%} | "
            f"{r['fraction_speaking_level_in_first_frame']:.1%} | {r['median_first_above_floor_db']:.1f} | "
            f"{r['median_first_below_peak_db']:.1f} | {r['median_energy_share_first_frame']:.2e} | "
            f"{r['median_recording_seconds']:.2f} |")
    if args.json is not None:
        write_json_atomic(args.json, reports)
    return 0


def entry_point():
    sys.exit(cli.run(main, prog=PROG))


if __name__ == "__main__":
    entry_point()
