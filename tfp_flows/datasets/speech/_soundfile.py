"""Today's stack's decoder: soundfile (libsndfile, bundled in its wheels with FLAC, Ogg
Vorbis and MP3) and SciPy's polyphase resampler, run from the graph by `tf.numpy_function`
(`audio.decode_clip` picks it where tensorflow-io cannot load, e.g. with TF 2.21).

Samples come out as libsndfile scales them, which is how tensorflow-io's branches scale
them too: 8-bit (x - 128) / 128, 16-bit x / 2^15, 24-bit x / 2^23, 32-bit x / 2^31,
float as stored. Channels are averaged, the clip is resampled to 16 kHz with
`scipy.signal.resample_poly` (a zero-phase windowed-sinc filter: an impulse stays where
it was, checked by the tests at five rates), and padded with zeros or cut to one second.

Written here by hand is only what libsndfile does not say: that a WAV or FLAC file is
truncated. libsndfile reads the samples present and shrinks its frame count to match, so
the WAV data chunk's declared size is compared with the bytes present, and a FLAC's frame
count (from STREAMINFO) with the samples decoded.
"""

import io
from math import gcd

import numpy as np
import tensorflow as tf
from scipy.signal import resample_poly

from tfp_flows._lazy import lazy_module
from tfp_flows.datasets.speech._common import AUDIO_FORMATS, SAMPLE_RATE

soundfile = lazy_module("soundfile")  # an optional decoder: loads() says whether it can be used

__all__ = ["decode_bytes", "decode_clip", "decode_native", "loads", "to_clip"]

# Containers read; libsndfile's other formats (AIFF, AU, ...) are refused like on the pinned stack.
_FORMATS = {"WAV", "WAVEX", "FLAC", "OGG", "MP3"}
UNSUPPORTED = f"not a supported audio file ({AUDIO_FORMATS})"
TRUNCATED = "truncated file (fewer samples than its header says)"
EMPTY = "the file holds no audio samples"


def loads():
    """Whether soundfile and its libsndfile are installed."""
    try:
        soundfile.SoundFile  # noqa: B018 - the first access imports soundfile and loads libsndfile
    except (ImportError, OSError):
        return False
    return True


def _wav_data_shortfall(raw):
    """Bytes a RIFF/WAVE file's data chunk declares beyond the end of the file (0 when
    complete, or when the chunk is not found: libsndfile then decides)."""
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        return 0
    at = 12
    while at + 8 <= len(raw):
        size = int.from_bytes(raw[at + 4:at + 8], "little")
        if raw[at:at + 4] == b"data":
            return max(0, at + 8 + size - len(raw)) if size != 0xFFFFFFFF else 0  # 0xFFFFFFFF: streamed, size unknown
        at += 8 + size + (size & 1)
    return 0


def _reason(err):
    """libsndfile's reason without soundfile's "Error opening <object>: " prefix."""
    return str(err).rsplit(": ", 1)[-1].strip(" .") or type(err).__name__


def decode_native(raw):
    """A file's bytes -> (float32 [samples, channels] in [-1, 1], sample rate), as the file
    holds them. Raises ValueError with the reason (one line) when it cannot be read."""
    raw = bytes(raw)
    if _wav_data_shortfall(raw) > 0:
        raise ValueError(TRUNCATED)
    try:
        f = soundfile.SoundFile(io.BytesIO(raw))
    except soundfile.LibsndfileError as err:
        text = _reason(err)
        if "not recognised" in text or "not recognized" in text:
            raise ValueError(UNSUPPORTED) from None
        raise ValueError(f"not a readable {AUDIO_FORMATS} file ({text})") from None
    with f:
        if f.format not in _FORMATS:
            raise ValueError(UNSUPPORTED)
        declared, rate = f.frames, f.samplerate
        lossless = f.format != "MP3" and f.subtype != "VORBIS"
        try:
            audio = f.read(dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, EOFError) as err:  # the header was fine, the data is not
            raise ValueError(f"truncated or damaged file ({_reason(err)})") from None
    if lossless and len(audio) < declared:
        raise ValueError(TRUNCATED)
    if len(audio) == 0:
        raise ValueError(EMPTY)
    return audio, int(rate)


def to_clip(audio, rate):
    """float32 [samples, channels] at `rate` -> float32 [16000]: mono, 16 kHz, padded or cut."""
    mono = audio.mean(axis=1, dtype=np.float32) if audio.shape[1] > 1 else audio[:, 0]
    if rate != SAMPLE_RATE:
        g = gcd(int(rate), SAMPLE_RATE)
        up, down = SAMPLE_RATE // g, int(rate) // g
        # Only the input that reaches the first second: its samples plus the filter's half
        # length (resample_poly's default: 10 * max(up, down) taps at the upsampled rate).
        keep = -(-SAMPLE_RATE * down // up) + -(-10 * max(up, down) // up) + 2
        mono = resample_poly(mono[:keep], up, down).astype(np.float32)
    out = np.zeros(SAMPLE_RATE, np.float32)
    n = min(len(mono), SAMPLE_RATE)
    out[:n] = mono[:n]
    return out


def decode_bytes(raw):
    """A file's bytes -> float32 [16000] (numpy); ValueError with the reason."""
    return to_clip(*decode_native(raw))


def decode_clip(raw):
    """A file's bytes (string scalar tensor) -> float32 [16000] tensor, decoded by soundfile
    in a `tf.numpy_function` (so `tf.data` can call it in parallel). A file that cannot be
    read raises, when the value is computed, an error whose message holds the reason."""
    clip = tf.numpy_function(decode_bytes, [raw], tf.float32, stateful=False, name="decode_audio")
    return tf.ensure_shape(clip, [SAMPLE_RATE])
