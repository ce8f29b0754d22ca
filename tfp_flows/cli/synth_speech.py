"""Write a Speech-Commands-shaped folder spoken by espeak-ng (`tfp-flows-synth-speech`).

Needs the espeak-ng program (Debian: apt-get install espeak-ng). See
`tfp_flows.datasets.speech.synthetic` for how the clips and split lists are made.
"""

import argparse
import sys
from pathlib import Path

from tfp_flows import cli

__all__ = ["main"]


def main(argv=None, log=print):
    p = cli.ArgumentParser(prog="synth-speech", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("data/speech_synth"), help="(default: %(default)s)")
    p.add_argument("--clips-per-word", type=cli.positive_int, default=60, help="(default: %(default)s)")
    p.add_argument("--seed", type=cli.nonnegative_int, default=0, help="(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    from tfp_flows.datasets.speech.synthetic import synthesise_speech_commands

    log(synthesise_speech_commands(args.out, args.clips_per_word, args.seed, progress=not args.no_progress))
    return 0


def entry_point():
    sys.exit(cli.run(main, prog="synth-speech"))


if __name__ == "__main__":
    entry_point()
