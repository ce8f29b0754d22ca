"""Write a Speech-Commands-shaped folder spoken by espeak-ng (`tfp-flows-synth-speech`).

Needs the espeak-ng program (Debian: apt-get install espeak-ng). See
`tfp_flows.datasets.speech.synthetic` for how the clips and split lists are made.
"""

from dataclasses import dataclass, field
from pathlib import Path

from tfp_flows._lazy import lazy_callable
from tfp_flows.cli.options import config_command

synthesise_speech_commands = lazy_callable(  # TensorFlow: when the command runs
    "tfp_flows.datasets.speech.synthetic:synthesise_speech_commands")

__all__ = ["SynthSpeechConfig", "build_parser", "entry_point", "main"]


@dataclass
class SynthSpeechConfig:
    """The folder `tfp-flows-synth-speech` writes."""

    out: Path = field(default=Path("data/speech_synth"), metadata={"help": "the folder to write (must not exist)"})
    clips_per_word: int = field(default=60, metadata={"help": "clips of each of the 30 words"})
    seed: int = field(default=0, metadata={"help": "random seed of voices, pitches, speeds and noise",
                                           "minimum": 0})
    progress: bool = field(default=True, metadata={"help": "no progress bar"})


def synthesise(config, log=print):
    """Write the folder; returns it."""
    root = synthesise_speech_commands(config.out, config.clips_per_word, config.seed, progress=config.progress)
    log(root)
    return root


build_parser, main, entry_point = config_command("synth-speech", __doc__, SynthSpeechConfig,
                                                 "tfp_flows.cli.synth_speech:synthesise")

if __name__ == "__main__":
    entry_point()
