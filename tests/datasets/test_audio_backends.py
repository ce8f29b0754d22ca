"""The two audio decoders (tensorflow-io on the pinned stack, soundfile on today's) against
each other and against the signal they should give. Comparisons need both, so they run
on the pinned stack (soundfile is installed there too) and skip on today's, where
tensorflow-io cannot load; the checks of one decoder run with whichever this stack has."""

import numpy as np
import pytest

from conftest import AUDIO_RATE as RATE, LOSSY, audio_files, write_wav
from tfp_flows.datasets import speech
from tfp_flows.datasets.speech import _soundfile, _tfio, audio, features

TFIO = _tfio.loads()
both = pytest.mark.skipif(not TFIO, reason="tensorflow-io does not load on this stack: nothing to compare with")


def _decode_both(raw):
    return audio.decode_native(raw, "tensorflow-io"), audio.decode_native(raw, "soundfile")


@both
def test_both_decoders_give_the_same_samples_for_every_lossless_format(tmp_path):
    files = audio_files(tmp_path)
    for name, path in files.items():
        (a, ra), (b, rb) = _decode_both(path.read_bytes())
        assert ra == rb == RATE and a.shape == b.shape and a.dtype == b.dtype == np.float32, name
        tol = 1e-6 if name.startswith(("wav", "flac")) else 1e-5  # lossy: two MP3/Vorbis decoders' rounding (1.4e-6 measured)
        np.testing.assert_allclose(a, b, rtol=0, atol=tol, err_msg=name)
        assert np.abs(a).max() > 0.45, name


@both
def test_both_decoders_give_the_same_clip_where_nothing_is_resampled(tmp_path):
    rng = np.random.default_rng(3)
    x = np.clip(0.3 * rng.normal(size=12_000), -1, 1)
    for width in (1, 2, 3, 4):
        path = write_wav(tmp_path / f"w{width}.wav", x, rate=16_000, width=width)
        a = _tfio_clip(path.read_bytes())
        b = _soundfile.to_clip(*_soundfile.decode_native(path.read_bytes()))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=str(width))
        assert np.all(b[12_000:] == 0) and np.abs(b[:12_000]).max() > 0.5


_compiled = []


def _tfio_clip(raw):
    import tensorflow as tf

    if not _compiled:  # one function for the session (a function per call is torn down noisily at exit)
        _compiled.append(tf.function(_tfio.decode_clip, input_signature=[tf.TensorSpec([], tf.string)]))
    return _compiled[0](tf.constant(raw)).numpy()


# The lossy fixtures' features, from each decoder's samples through the same resampler:
# what the decoders alone change. Stated tolerance: 1e-3 of each feature's largest value.
FEATURE_TOL = 1e-3


@both
@pytest.mark.parametrize("name", ["tone.mp3", "tone.ogg"])
def test_lossy_fixtures_give_the_same_features_from_either_decoder(name):
    (a, rate), (b, _) = _decode_both((LOSSY / name).read_bytes())
    ca, cb = _soundfile.to_clip(a, rate), _soundfile.to_clip(b, rate)
    for feature in ("p2", "logmel", "mfccseg"):
        fa, fb = (np.asarray(features.FEATURES[feature](c[None]))[0] for c in (ca, cb))
        assert np.abs(fa - fb).max() <= FEATURE_TOL * np.abs(fa).max(), (name, feature, np.abs(fa - fb).max())


@pytest.mark.parametrize("rate", [8_000, 11_025, 22_050, 44_100, 48_000])
def test_the_polyphase_resampler_keeps_a_tone_and_its_timing(rate):
    """soundfile's path (SciPy's resample_poly) on a 300 Hz tone: the 16 kHz clip is the
    same tone sampled at 16 kHz, away from the edges, to 1e-3; and the second of input
    maps to the second of output (no delay, nothing cut)."""
    t_in = np.arange(rate) / rate
    clip = _soundfile.to_clip((0.5 * np.sin(2 * np.pi * 300 * t_in)).astype(np.float32)[:, None], rate)
    t_out = np.arange(16_000) / 16_000
    expected = 0.5 * np.sin(2 * np.pi * 300 * t_out)
    np.testing.assert_allclose(clip[200:-200], expected[200:-200], atol=1e-3)
    longer = _soundfile.to_clip(np.tile(np.float32(0.5), (3 * rate, 2)), rate)  # 3 s of a constant: cut to 1 s
    np.testing.assert_allclose(longer[100:], 0.5, atol=1e-3)


def test_soundfile_reports_a_truncated_flac_and_a_truncated_wav(tmp_path):
    import soundfile

    x = 0.5 * np.sin(np.arange(11_025) / 5)
    soundfile.write(tmp_path / "a.flac", x, RATE, subtype="PCM_16")
    for path in (tmp_path / "a.flac", write_wav(tmp_path / "a.wav", x, rate=RATE)):
        raw = path.read_bytes()
        with pytest.raises(ValueError, match="truncated"):
            _soundfile.decode_native(raw[:len(raw) * 2 // 3])
        assert _soundfile.decode_native(raw)[0].shape == (11_025, 1)


def test_the_decoder_is_chosen_by_the_variable_or_what_loads(monkeypatch):
    monkeypatch.delenv("TFP_FLOWS_AUDIO_BACKEND", raising=False)
    assert audio.backend() == ("tensorflow-io" if TFIO else "soundfile")
    monkeypatch.setenv("TFP_FLOWS_AUDIO_BACKEND", "soundfile")
    assert audio.backend() == "soundfile"
    monkeypatch.setenv("TFP_FLOWS_AUDIO_BACKEND", "ffmpeg")
    with pytest.raises(ValueError, match=r"expected one of tensorflow-io, soundfile") as err:
        audio.backend()
    assert "\n" not in str(err.value)
    if not TFIO:
        monkeypatch.setenv("TFP_FLOWS_AUDIO_BACKEND", "tensorflow-io")
        with pytest.raises(ValueError, match="do not load"):
            audio.backend()


def test_soundfile_decoder_reads_every_format_in_the_pipeline(tmp_path, monkeypatch):
    """The whole path on the soundfile decoder, whichever the stack: read_clip and the
    tf.data pipeline (numpy_function, parallel calls) agree, clip by clip, in order."""
    monkeypatch.setenv("TFP_FLOWS_AUDIO_BACKEND", "soundfile")
    files = audio_files(tmp_path)
    root = tmp_path / "root"
    paths = []
    for k, (name, path) in enumerate(files.items()):
        target = root / "w" / f"{name}_nohash_{k}{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        paths.append(str(target.relative_to(root)))
    (root / "w" / "junk_nohash_0.wav").write_bytes(b"junk")
    values, kept, bad = speech.extract_features(root, [*paths, "w/junk_nohash_0.wav"], "logmel", cache_dir=None)
    assert kept == paths and len(bad) == 1 and "not a supported audio file" in bad[0]
    one_by_one = np.stack([np.asarray(speech.logmel_features(speech.read_clip(root / p))) for p in kept])
    np.testing.assert_allclose(values, one_by_one, atol=1e-4)
