"""The pinned stack's decoder: tensorflow-io, in the graph (`audio.decode_clip` picks it
where tensorflow-io loads, i.e. with TF 2.16).

tensorflow-io decodes the samples (`tfio.audio.decode_wav`, `decode_flac`,
`decode_vorbis`, `decode_mp3`), channels are averaged to mono, tensorflow-io resamples to
16 kHz, and the clip is padded with zeros or cut to one second.

What is written by hand here is only the reading of a few header fields (format,
sample width, sample rate), for two measured reasons:
* tensorflow-io's decoders need the sample type up front and do not report the rate;
  its `AudioIOTensor`, which does, keeps one resource per graph node, so parallel
  `tf.data` calls share it: decoding 400 WAVs with `num_parallel_calls=8` gave 2 to 14
  clips with another clip's samples (checked 2026-11-29).
* tensorflow-io reads every 32-bit WAV as float, also integer PCM ones (its samples
  come out as denormals or NaN); such files are decoded as float and reinterpreted.
"""

import warnings

import numpy as np
import tensorflow as tf

from tfp_flows._lazy import lazy_module
from tfp_flows.datasets.speech._common import AUDIO_FORMATS, SAMPLE_RATE

# Optional: imported (and its kernels loaded) on first use; loads() says whether they can be.
tfio = lazy_module("tensorflow_io")
tfio_ops = lazy_module("tensorflow_io.python.ops")  # its core_ops: the resampler

__all__ = ["decode_clip", "decode_native", "loads"]

# The branch of `_decoders` for each recognised kind of file.
_WAV_U8, _WAV_I16, _WAV_I24, _WAV_F32, _WAV_I32, _FLAC16, _FLAC24, _OGG, _MP3, _UNKNOWN = range(10)
# MPEG audio sample rates by (version bits * 4 + rate index); 0 = reserved.
_MP3_RATES = [11025, 12000, 8000, 0, 0, 0, 0, 0, 22050, 24000, 16000, 0, 44100, 48000, 32000, 0]


_HEAD = 1024  # header bytes examined (a WAV's fmt chunk, FLAC's STREAMINFO, Ogg's first packet)


def _u32(text):
    return int.from_bytes(text.encode(), "little")


def _padded(raw, start, n):
    """n bytes of `raw` from `start` (int32) as float64, zeros past its end (so a short
    file reads as zeros, which no format below accepts)."""
    start = tf.minimum(start, tf.strings.length(raw))
    part = tf.strings.substr(tf.strings.join([tf.strings.substr(raw, start, n), tf.constant(bytes(n))]), 0, n)
    return tf.cast(tf.io.decode_raw(part, tf.uint8), tf.float64)


# Header fields as one matrix-vector product over the gathered header bytes b (23 of
# them: see `_kind_and_rate`), b // 16, b % 2 and b % 128: each row is one field.
def _field_matrix():
    w = np.zeros((7, 4 * 23))
    b, hi, odd = 0, 23, 46  # then b % 128 from 69

    def le(row, first, n, base=b, scale=1):
        for k in range(n):
            w[row, base + first + k] = scale * 256 ** k

    le(0, 0, 2)            # WAV format code
    le(1, 2, 4)            # WAV sample rate
    le(2, 6, 2)            # WAV bits per sample
    le(3, 8, 2)            # WAV_FORMAT_EXTENSIBLE's subformat code
    w[4, [b + 10, b + 11, hi + 12]] = [4096, 16, 1]           # FLAC sample rate (20 bits)
    w[5, [odd + 12, hi + 13]] = [16, 1]                      # FLAC bits per sample - 1
    le(6, 14, 4)           # Vorbis sample rate
    return w


_FIELDS = _field_matrix()
_ID3_FIELDS = [2**21, 2**14, 2**7, 1]  # the ID3v2 tag size: four 7-bit bytes
_PCM_KINDS = [_UNKNOWN, _WAV_U8, _WAV_I16, _WAV_I24, _WAV_I32]  # by bytes per sample


def _kind_and_rate(raw):
    """(kind, rate) from the header, without branches (cheaper to trace and to run per
    clip than nested tf.cond): every format's fields are read, the magic number picks."""
    head = _padded(raw, 0, _HEAD)
    u32 = head[:-3] + 256 * head[1:-2] + 65536 * head[2:-1] + 16777216 * head[3:]  # at every offset
    fmt_at = tf.cast(tf.argmax(tf.cast(tf.equal(u32, _u32("fmt ")), tf.int32)), tf.int32) + 8
    ogg_at = 27 + tf.cast(head[26], tf.int32)
    idx = tf.concat([fmt_at + [0, 1, 4, 5, 6, 7, 14, 15, 24, 25], [18, 19, 20, 21], ogg_at + [12, 13, 14, 15],
                     [5, 6, 7, 8, 9]], 0)
    b = tf.gather(head, idx)
    x = tf.concat([b, tf.floor(b / 16), b - 2 * tf.floor(b / 2), b - 128 * tf.floor(b / 128)], 0)
    f = tf.cast(tf.linalg.matvec(tf.constant(_FIELDS), x), tf.int64)
    code, wav_rate, bits, sub, flac_rate, flac_bits, ogg_rate = (f[i] for i in range(7))
    def k(v):
        return tf.constant(v, tf.int64)

    code = tf.where(code == 0xFFFE, sub, code)
    pcm = tf.gather(tf.constant(_PCM_KINDS, tf.int64), tf.where(bits % 8 == 0, tf.clip_by_value(bits // 8, 0, 4), 0))
    wav_kind = tf.where(code == 1, pcm, tf.where((code == 3) & (bits == 32), k(_WAV_F32), k(_UNKNOWN)))
    flac_kind = tf.where(flac_bits == 15, k(_FLAC16), tf.where(flac_bits == 23, k(_FLAC24), k(_UNKNOWN)))
    ogg_ok = tf.equal(tf.gather(u32, ogg_at + 1), _u32("vorb")) & tf.equal(tf.gather(u32, ogg_at + 3), _u32("rbis"))
    # MP3: the first frame header, after an ID3v2 tag (and its footer) when there is one.
    id3 = tf.equal(u32[0] - 16777216 * head[3], _u32("ID3"))
    tag = tf.reduce_sum(tf.constant(_ID3_FIELDS, tf.float64) * x[69 + 19:69 + 23])
    footer = tf.where(tf.floor(b[18] / 16) % 2 == 1, 10, 0)
    frame = _padded(raw, tf.where(id3, 10 + tf.cast(tag, tf.int32) + footer, 0), 4)
    mp3_rate = tf.gather(tf.constant(_MP3_RATES, tf.int64),
                         tf.cast((tf.floor(frame[1] / 8) % 4) * 4 + tf.floor(frame[2] / 4) % 4, tf.int32))
    mp3_ok = (frame[0] == 255) & (frame[1] >= 224) & (mp3_rate > 0)

    is_wav = tf.equal(u32[0], _u32("RIFF")) & tf.equal(u32[8], _u32("WAVE"))
    is_flac, is_ogg = tf.equal(u32[0], _u32("fLaC")), tf.equal(u32[0], _u32("OggS")) & ogg_ok
    kind = tf.where(is_wav, wav_kind, tf.where(is_flac, flac_kind, tf.where(
        is_ogg, k(_OGG), tf.where(mp3_ok, k(_MP3), k(_UNKNOWN)))))
    rate = tf.where(is_wav, wav_rate, tf.where(is_flac, flac_rate, tf.where(is_ogg, ogg_rate, mp3_rate)))
    return tf.where(rate > 0, kind, k(_UNKNOWN)), rate


def _decoders(raw):
    """One function per kind: the file's samples as float32 [samples, channels] in [-1, 1]."""
    def scaled(x, offset, scale):
        return (tf.cast(x, tf.float32) - offset) / scale

    def unknown():
        fail = tf.debugging.Assert(tf.equal(tf.strings.length(raw), -1),
                                   [f"not a supported audio file ({AUDIO_FORMATS})"])
        with tf.control_dependencies([fail]):
            return tf.zeros([0, 1], tf.float32)

    return [
        lambda: scaled(tfio.audio.decode_wav(raw, dtype=tf.uint8), 128.0, 128.0),
        lambda: scaled(tfio.audio.decode_wav(raw, dtype=tf.int16), 0.0, 32768.0),
        lambda: scaled(tfio.audio.decode_wav(raw, dtype=tf.int32), 0.0, 2.0**31),  # 24-bit, left-aligned
        lambda: tfio.audio.decode_wav(raw, dtype=tf.float32),
        lambda: scaled(tf.bitcast(tfio.audio.decode_wav(raw, dtype=tf.float32), tf.int32), 0.0, 2.0**31),
        lambda: scaled(tfio.audio.decode_flac(raw, dtype=tf.int16), 0.0, 32768.0),
        lambda: scaled(tfio.audio.decode_flac(raw, dtype=tf.int32), 0.0, 2.0**31),  # left-aligned
        lambda: tfio.audio.decode_vorbis(raw),
        lambda: tfio.audio.decode_mp3(raw),
        unknown,
    ]


def loads():
    """Whether tensorflow-io is installed and its kernels load with this TensorFlow (with
    TF 2.21, tensorflow-io 0.37.1 imports but every op fails: "undefined symbol")."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wav = (b"RIFF" + (36 + 2).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
                   + bytes([1, 0, 1, 0]) + SAMPLE_RATE.to_bytes(4, "little") + (2 * SAMPLE_RATE).to_bytes(4, "little")
                   + bytes([2, 0, 16, 0]) + b"data" + (2).to_bytes(4, "little") + bytes(2))
            tfio.audio.decode_wav(tf.constant(wav), dtype=tf.int16)
    except Exception:  # ImportError, NotImplementedError, tf.errors.NotFoundError: not usable here
        return False
    return True


@tf.autograph.experimental.do_not_convert
def decode_native(raw):
    """A file's bytes -> (float32 [samples, channels] in [-1, 1], sample rate int64), as
    the file holds them (no mixing, no resampling)."""
    kind, rate = _kind_and_rate(raw)
    audio = tf.switch_case(tf.cast(kind, tf.int32), _decoders(raw))
    return audio, rate


@tf.autograph.experimental.do_not_convert
def decode_clip(raw):
    """A file's bytes (string scalar) -> float32 [16000]: mono, 16 kHz, padded or cut to 1 s.

    Raises (when the value is computed) `tf.errors.InvalidArgumentError` or
    `OutOfRangeError` for a file that is not a supported, complete audio file or holds
    no samples.
    """
    audio, rate = decode_native(raw)
    tf.debugging.assert_positive(tf.shape(audio)[0], message="the file holds no audio samples")
    mono = tf.reduce_mean(audio, axis=1, keepdims=True)
    mono = tf.cond(tf.equal(rate, SAMPLE_RATE), lambda: mono, lambda: _resample(tfio_ops.core_ops, mono, rate))[:, 0]
    mono = mono[:SAMPLE_RATE]
    return tf.ensure_shape(tf.pad(mono, [[0, SAMPLE_RATE - tf.shape(mono)[0]]]), [SAMPLE_RATE])


def _resample(core_ops, mono, rate):
    """[n, 1] at `rate` -> [round(n * 16000 / rate), 1] at 16 kHz, in time with the input.

    tensorflow-io's resampler (its own op, called directly on [samples, 1]: the public
    wrapper maps it over a batch with vectorized_map, which warns and falls back to a
    loop) delays its output by 32 samples of the lower of the two rates and cuts the end
    by as much (measured with impulses: 64 output samples from 8 kHz, 46.4 from 11,025 Hz,
    32 from 22,050 to 48,000 Hz). The input gets enough trailing zeros for the filter to
    flush, and the delay is dropped.
    """
    ratio = SAMPLE_RATE / tf.cast(rate, tf.float64)
    delay = tf.cast(tf.round(32.0 * tf.maximum(tf.constant(1.0, tf.float64), ratio)), tf.int32)
    flush = tf.cast(tf.math.ceil(tf.cast(delay, tf.float64) / ratio), tf.int32) + 2
    padded = tf.pad(mono, [[0, flush], [0, 0]])
    out = core_ops.io_audio_resample(padded, rate_in=rate, rate_out=SAMPLE_RATE)
    length = tf.cast(tf.round(tf.cast(tf.shape(mono)[0], tf.float64) * ratio), tf.int32)
    return out[delay:delay + length]
