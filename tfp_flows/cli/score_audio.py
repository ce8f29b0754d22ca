"""Score audio clips with a trained speech run (`tfp-flows-score-audio`): an alias of
`tfp-flows-score` with ``--run`` for ``--model``.

    tfp-flows-score-audio --run runs/speech-zero-logmel-seed0 clip1.wav clip2.wav
"""

import sys

from tfp_flows import cli
from tfp_flows.cli import score

__all__ = ["entry_point", "main"]


def main(argv=None, log=print):
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = ["--model" if a == "--run" else a for a in argv]
    return score.main(argv, log=log, prog="score-audio")


def entry_point():
    sys.exit(cli.run(main, prog="score-audio"))


if __name__ == "__main__":
    entry_point()
