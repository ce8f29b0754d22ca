"""Features of one-second clips: P2's (reproduced as P2 computed it) and a log-mel summary.

Both are TensorFlow functions of audio [..., 16000] (one clip or a batch, numpy or
tensor) returning a tensor, so the `tf.data` pipeline computes them in parallel.
"""

import tensorflow as tf

from tfp_flows.datasets.speech.audio import SAMPLE_RATE

__all__ = ["FEATURES", "logmel_features", "p2_features"]


def p2_features(audio):
    """P2's feature, exactly: |stft(x, frame_length=16000, frame_step=1, fft_length=512)|.

    With frame_length equal to the clip length there is one frame, the whole clip times
    a 16000-point Hann window. But `tf.signal.stft` hands the frame to an rfft of length
    fft_length = 512, which *crops* it to its first 512 samples: the feature describes
    the first 32 ms of the clip, where the Hann window is at most 0.01 (sin^2(pi*511/
    15999)), and nothing after sample 512. Two clips that differ only after sample 512
    have identical features (a test proves it). Kept as P2 computed it, for the
    reproduction; see `logmel_features` for one that describes the whole clip.

    Args:
      audio: [..., 16000] float32.

    Returns:
      [..., 257] float32 magnitudes.
    """
    spec = tf.abs(tf.signal.stft(tf.convert_to_tensor(audio, tf.float32), frame_length=16000, frame_step=1,
                                 fft_length=512))
    return spec[..., 0, :]


def logmel_features(audio, n_mels=40):
    """A corrected feature: log-mel spectrogram statistics over the whole clip.

    Frames of 30 ms (480 samples) every 10 ms (160), fft_length 512 (the settings of
    the earlier audio posts: 98 frames x 257 bins per clip), mapped to `n_mels` mel bands
    between 20 Hz and 8 kHz, log(x + 1e-6), then the mean and the standard deviation of
    each band over the 98 frames: 2 * n_mels values. Why: unlike P2's feature it sees
    every sample of the clip; unlike the flattened 98 x 257 spectrogram (25,186 values,
    rejected in P2) it is small enough for a MAF trained on about a thousand clips; and
    means and spread over time keep the spectral envelope and its variation, which is
    what distinguishes words, while being insensitive to where in the second the word
    starts.

    Returns:
      [..., 2 * n_mels] float32.
    """
    spec = tf.abs(tf.signal.stft(tf.convert_to_tensor(audio, tf.float32), frame_length=480, frame_step=160,
                                 fft_length=512))
    mel = tf.signal.linear_to_mel_weight_matrix(n_mels, 257, SAMPLE_RATE, 20.0, 8000.0)
    logmel = tf.math.log(tf.tensordot(spec, mel, 1) + 1e-6)
    return tf.concat([tf.reduce_mean(logmel, -2), tf.math.reduce_std(logmel, -2)], -1)


FEATURES = {"p2": p2_features, "logmel": logmel_features}
