"""Speech Commands v0.01: clips and splits (`reader`), decoding with tensorflow-io or
soundfile (`audio`), features (`features`), the tf.data pipeline with its on-disk cache
(`pipeline`) and a Speech-Commands-shaped folder spoken by espeak-ng (`synthetic`)."""

from tfp_flows.datasets.speech.audio import AUDIO_FORMATS, SAMPLE_RATE, decode_clip, read_clip
from tfp_flows.datasets.speech.features import FEATURES, logmel_features, mfccseg_features, p2_features
from tfp_flows.datasets.speech.pipeline import DEFAULT_CACHE, clip_dataset, extract_features
from tfp_flows.datasets.speech.reader import SPEECH_URL, download_speech, list_clips, split_clips

__all__ = ["AUDIO_FORMATS", "DEFAULT_CACHE", "FEATURES", "SAMPLE_RATE", "SPEECH_URL", "clip_dataset", "decode_clip",
           "download_speech", "extract_features", "list_clips", "logmel_features", "mfccseg_features", "p2_features", "read_clip",
           "split_clips"]
