"""Speech Commands v0.01: clips and splits (`reader`), features (`features`) and a
Speech-Commands-shaped folder spoken by espeak-ng (`synthetic`)."""

from tfp_flows.datasets.speech.features import FEATURES, logmel_features, p2_features
from tfp_flows.datasets.speech.reader import (SAMPLE_RATE, SPEECH_URL, download_speech, list_clips,
                                              load_clips, load_wav, split_clips)

__all__ = ["FEATURES", "SAMPLE_RATE", "SPEECH_URL", "download_speech", "list_clips", "load_clips",
           "load_wav", "logmel_features", "p2_features", "split_clips"]
