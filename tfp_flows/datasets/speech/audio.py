"""Audio files to one-second 16 kHz mono clips, in the graph, by one of two decoders.

`decode_clip(raw)` takes a file's bytes and returns float32 [16000]: the samples decoded,
channels averaged to mono, resampled to 16 kHz, padded with zeros or cut to one second.
Supported: WAV with 8-, 16-, 24- or 32-bit integer or 32-bit float samples, FLAC (16- or
24-bit), Ogg Vorbis and MP3. Two decoders do this, one per stack (README, "Why these
versions"):

* ``tensorflow-io`` (`_tfio`): the pinned stack's, TF ops throughout. Chosen where
  tensorflow-io is installed and its kernels load (TF 2.16).
* ``soundfile`` (`_soundfile`): libsndfile and SciPy's polyphase resampler, called from the
  graph through `tf.numpy_function`. Chosen where tensorflow-io cannot load (TF 2.21).

`TFP_FLOWS_AUDIO_BACKEND=soundfile` (or ``tensorflow-io``) chooses one by hand. Both give
the same samples for the lossless formats; the resamplers differ (about 40 dB apart on
real speech), so the feature cache is kept per decoder (`backend()` is part of its key).
"""

import os
from pathlib import Path
from typing import Union

import numpy as np
import tensorflow as tf

from tfp_flows._lazy import lazy_module
from tfp_flows.datasets.speech._common import AUDIO_FORMATS, SAMPLE_RATE

__all__ = ["AUDIO_FORMATS", "BACKENDS", "SAMPLE_RATE", "backend", "decode_clip", "decode_native", "error_line",
           "read_clip"]

BACKENDS = ("tensorflow-io", "soundfile")
_ENV = "TFP_FLOWS_AUDIO_BACKEND"
_chosen = {}
# Each decoder's module, imported when it is first asked whether it loads here.
_BACKEND_MODULES = {"tensorflow-io": lazy_module("tfp_flows.datasets.speech._tfio"),
                    "soundfile": lazy_module("tfp_flows.datasets.speech._soundfile")}


def _module(name):
    return _BACKEND_MODULES[name]


def backend():
    """The decoder in use: ``$TFP_FLOWS_AUDIO_BACKEND`` when set, else tensorflow-io where it
    loads, else soundfile.

    Raises:
      ValueError: one line, when the variable names no decoder, or the one it names (or
      every one) cannot be used here.
    """
    asked = os.environ.get(_ENV, "").strip()
    key = asked or "auto"
    if key not in _chosen:
        if asked and asked not in BACKENDS:
            raise ValueError(f"{_ENV}={asked!r}: expected one of {', '.join(BACKENDS)}")
        for name in [asked] if asked else BACKENDS:
            if _module(name).loads():
                _chosen[key] = name
                break
        else:
            why = {"": "neither tensorflow-io (with loadable kernels) nor soundfile is installed",
                   "tensorflow-io": "tensorflow-io's kernels do not load with this TensorFlow",
                   "soundfile": "soundfile is not installed"}[asked]
            raise ValueError(f"no audio decoder: {why} (see README, 'Why these versions')")
    return _chosen[key]


def decode_clip(raw: tf.Tensor) -> tf.Tensor:
    """A file's bytes (string scalar) -> float32 [16000]: mono, 16 kHz, padded or cut to 1 s.

    Raises (when the value is computed) a `tf.errors.OpError` whose message holds the
    reason (see `error_line`) for a file that is not a supported, complete audio file or
    holds no samples.
    """
    return _module(backend()).decode_clip(raw)


def decode_native(raw, name=None):
    """A file's bytes -> (float32 [samples, channels], rate), as the file holds them, by
    decoder `name` (default: `backend()`): numpy arrays. For comparing the decoders."""
    name = name or backend()
    if name == "tensorflow-io":
        audio, rate = _module(name).decode_native(tf.constant(raw))
        return audio.numpy(), int(rate)
    return _module(name).decode_native(raw)


def error_line(path, err):
    """One line for a file that could not be decoded: the path and the decoder's reason."""
    if isinstance(err, (tf.errors.NotFoundError, FileNotFoundError)):
        return f"{path}: no such file"
    text = getattr(err, "message", str(err))
    for known, say in _REASONS.items():
        if known in text:
            return f"{path}: {say or text[text.index(known):].split(chr(10))[0].split(']')[0].strip(' .')}"
    lines = [ln.split("}}", 1)[-1].split(" [Op:")[0].strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln and not ln.startswith(("in user code", "File ", "Graph execution", "Traceback"))]
    message = f"not a readable {AUDIO_FORMATS} file ({lines[0] if lines else type(err).__name__})"
    return f"{path}: {message}"


# Phrases of the decoders' errors and what a user is told (None: the phrase to the end of its line).
_REASONS = {"not a supported audio file": None, "holds no audio": None, "not a readable": None,
            "truncated file": None,
            "Read less bytes than requested": "truncated file (fewer samples than its header says)",
            "EOF reached": "truncated file (it ends inside its audio data)"}
_decode_compiled = {}


def read_clip(path: Union[str, Path]) -> np.ndarray:
    """Decode one file eagerly; returns numpy float32 [16000].

    Raises:
      ValueError: one line naming the file when it cannot be read or decoded.
    """
    name = backend()
    if name == "soundfile":  # no graph needed: the decoder's own reasons, as raised
        try:
            with open(path, "rb") as f:
                return _BACKEND_MODULES["soundfile"].decode_bytes(f.read())
        except (OSError, ValueError) as err:
            raise ValueError(error_line(path, err)) from None
    if name not in _decode_compiled:
        _decode_compiled[name] = tf.function(_module(name).decode_clip, input_signature=[tf.TensorSpec([], tf.string)])
    try:
        return _decode_compiled[name](tf.io.read_file(str(path))).numpy()
    except (tf.errors.OpError, ValueError) as err:
        raise ValueError(error_line(path, err)) from None
