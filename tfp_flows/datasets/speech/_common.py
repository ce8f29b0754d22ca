"""What both audio decoders share: the clip's rate and length, and the formats they read."""

__all__ = ["AUDIO_FORMATS", "SAMPLE_RATE"]

SAMPLE_RATE = 16_000
AUDIO_FORMATS = "WAV (8/16/24/32-bit integer or 32-bit float), FLAC (16/24-bit), Ogg Vorbis or MP3"
