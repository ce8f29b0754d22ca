"""Score audio clips with a trained speech run (`tfp-flows-score-audio`): an alias of
`tfp-flows-score` with ``--run`` for ``--model``.

    tfp-flows-score-audio --run runs/speech-zero-logmel-seed0 clip1.wav clip2.wav
"""

import sys

from tfp_flows import cli
from tfp_flows.cli.options import config_command
from tfp_flows.cli.score import ScoreConfig, score_inputs

__all__ = ["entry_point", "main"]


def _score(config, log=print):
    return score_inputs(config, log=log, prog="score-audio")


build_parser, _main, _ = config_command("score-audio", __doc__, ScoreConfig, "tfp_flows.cli.score_audio:_score")


def main(argv=None, log=print):
    argv = list(sys.argv[1:] if argv is None else argv)
    return _main(["--model" if a == "--run" else a for a in argv], log=log)


def entry_point():
    sys.exit(cli.run(main, prog="score-audio"))


if __name__ == "__main__":
    entry_point()
