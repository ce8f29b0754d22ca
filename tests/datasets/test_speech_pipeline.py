"""Decoding (every supported format, by this stack's decoder: tensorflow-io or soundfile) and
the cached tf.data feature pipeline. tests/datasets/test_audio_backends.py compares the decoders."""

import json
import os

import numpy as np
import pytest

from conftest import AUDIO_RATE, AUDIO_TONE, ROOT, audio_files, tone as _tone, write_wav
from tfp_flows.datasets import speech
from tfp_flows.datasets.speech import pipeline

RATE, TONE = AUDIO_RATE, AUDIO_TONE


def _peak_hz(clip):
    spectrum = np.abs(np.fft.rfft(clip))
    return np.argmax(spectrum) * speech.SAMPLE_RATE / len(clip)


def test_every_supported_format_decodes_to_one_second_at_16khz(tmp_path):
    files = audio_files(tmp_path)
    reference = speech.read_clip(files["wavfloat"])
    assert reference.shape == (16_000,) and reference.dtype == np.float32
    # Resampled, not relabelled: the tone stays at 440 Hz (unresampled it would read 607 Hz).
    assert abs(_peak_hz(reference) - TONE) < 2
    assert np.all(reference[8_100:] == 0) and np.abs(reference[:7_900]).max() > 0.45  # padded after 0.5 s
    for name, path in files.items():
        clip = speech.read_clip(path)
        assert clip.shape == (16_000,) and abs(_peak_hz(clip) - TONE) < 2, name
        if name.startswith(("wav", "flac")):  # lossless: the same samples up to quantisation
            tol = 0.02 if name == "wav8" else 1e-3
            np.testing.assert_allclose(clip, reference, atol=tol, err_msg=name)
        else:  # lossy, with the encoder's delay: same level of signal, the same half second
            assert abs(np.abs(clip).max() - 0.5) < 0.1, name
            loud = np.flatnonzero(np.abs(clip) > 0.05)
            assert 7_000 < loud[-1] - loud[0] < 9_000 and np.all(clip[9_500:] == 0), name


def test_32_bit_integer_wav_is_read_as_integers(tmp_path):
    # tensorflow-io alone reads these as float32 (denormals); the decoder reinterprets them.
    x = _tone()
    clip = speech.read_clip(write_wav(tmp_path / "i32.wav", x, rate=RATE, width=4))
    assert abs(np.abs(clip).max() - 0.5) < 0.01


def test_stereo_is_averaged_and_8khz_is_resampled(tmp_path):
    both = speech.read_clip(write_wav(tmp_path / "s.wav", np.tile([[0.5, -0.5]], (16_000, 1)), channels=2))
    assert np.allclose(both, 0, atol=1e-4)
    t = np.arange(8000) / 8000
    slow = speech.read_clip(write_wav(tmp_path / "r.wav", 0.5 * np.sin(2 * np.pi * 100 * t), rate=8000))
    assert abs(_peak_hz(slow) - 100) < 2


@pytest.mark.parametrize("content, reason", [
    (b"not audio at all", "not a supported audio file"), (b"", "not a supported audio file"),
    ("half", "truncated"), ("noframes", "holds no audio"), (None, "no such file")])
def test_unreadable_files_give_one_line_naming_them(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    if content == "half":
        good = write_wav(tmp_path / "g.wav", _tone()).read_bytes()
        path.write_bytes(good[:len(good) // 2])
    elif content == "noframes":
        write_wav(path, np.zeros(0))
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        speech.read_clip(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message


def test_pipeline_matches_one_by_one_decoding_and_reports_bad_clips(fake_root, tmp_path):
    # Different rates and lengths, decoded in parallel: each clip must be its own.
    rng = np.random.default_rng(1)
    for k, rate in enumerate((8_000, 22_050, 44_100)):
        write_wav(fake_root / "zero" / f"rate{k}_nohash_0.wav", 0.2 * rng.normal(size=rate * (k + 1) // 3), rate=rate)
    (fake_root / "one" / "junk_nohash_0.wav").write_text("junk")
    (fake_root / "two" / "empty_nohash_0.wav").write_bytes(b"")
    clips = speech.list_clips(fake_root)
    paths = [p for w in sorted(clips) for p in clips[w]]
    values, kept, bad = speech.extract_features(fake_root, paths, "logmel", cache_dir=None)
    assert sorted(set(paths) - set(kept)) == ["one/junk_nohash_0.wav", "two/empty_nohash_0.wav"]
    assert len(bad) == 2 and all(str(fake_root) in line and "\n" not in line for line in bad)
    assert [p for p in paths if p in kept] == kept  # order kept
    one_by_one = np.stack([np.asarray(speech.logmel_features(speech.read_clip(fake_root / p))) for p in kept])
    np.testing.assert_allclose(values, one_by_one, atol=1e-4)


def test_cache_is_read_back_and_rebuilt_when_feature_or_files_change(fake_root, tmp_path, monkeypatch):
    clips = speech.list_clips(fake_root)
    paths = [p for w in sorted(clips) for p in clips[w]]
    cache = tmp_path / "cache"
    first, kept, _ = speech.extract_features(fake_root, paths, "p2", cache_dir=cache)
    assert len(list(cache.iterdir())) == 1
    real_clip_dataset = pipeline.clip_dataset

    def refuse(*a, **k):
        raise AssertionError("decoded again although the cache is complete")

    monkeypatch.setattr(pipeline, "clip_dataset", refuse)
    again, kept_again, _ = speech.extract_features(fake_root, paths, "p2", cache_dir=cache)
    np.testing.assert_array_equal(again, first)
    assert kept_again == kept
    monkeypatch.setattr(pipeline, "clip_dataset", real_clip_dataset)
    speech.extract_features(fake_root, paths, "logmel", cache_dir=cache)  # another feature: another cache
    assert len(list(cache.iterdir())) == 2
    changed = fake_root / paths[0]
    write_wav(changed, np.full(16_000, 0.25))
    os.utime(changed, ns=(1, 1))
    rebuilt, _, _ = speech.extract_features(fake_root, paths, "p2", cache_dir=cache)
    assert len(list(cache.iterdir())) == 3
    assert not np.allclose(rebuilt[0], first[0]) and np.allclose(rebuilt[1:], first[1:])
    manifest = json.loads(next(cache.glob("p2-*/manifest.json")).read_text())
    assert manifest["width"] == 257 and manifest["bad"] == []


def test_an_interrupted_first_pass_leaves_no_cache(fake_root, tmp_path, monkeypatch):
    import tqdm.auto

    class Interrupting(tqdm.auto.tqdm):
        def update(self, n=1):
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "tqdm", Interrupting)
    clips = speech.list_clips(fake_root)
    with pytest.raises(KeyboardInterrupt):
        speech.extract_features(fake_root, clips["zero"], "p2", cache_dir=tmp_path / "cache", batch_size=2)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("rate", [8_000, 11_025, 22_050, 44_100, 48_000])
def test_resampling_keeps_time(tmp_path, rate):
    """A click at input sample k lands at output sample k * 16000 / rate, and the clip's last
    samples survive (tensorflow-io's resampler alone delays by 32 samples of the lower rate
    and cuts the end by as much: 64 output samples from 8 kHz)."""
    x = np.zeros(rate // 2)
    x[1000], x[-1] = 0.9, 0.5
    clip = speech.read_clip(write_wav(tmp_path / "click.wav", x, rate=rate, floating=True))
    assert abs(int(np.argmax(np.abs(clip))) - 1000 * 16_000 / rate) <= 1
    assert abs(int(np.argmax(np.abs(clip[4_000:]))) + 4_000 - (len(x) - 1) * 16_000 / rate) <= 1
    assert np.all(clip[8_000 + 2:] == 0)


DIGITS = ROOT.parent / "shared" / "data" / "free_spoken_digits"


@pytest.mark.skipif(not DIGITS.is_dir(), reason="shared spoken-digit recordings absent")
def test_real_8khz_clips_are_padded_and_resampled_like_an_independent_resampler():
    """Real recordings (the Free Spoken Digit Dataset: 8 kHz, shorter than a second), six
    clips of two speakers: 16,000 samples at 16 kHz, the recording first and zeros after
    it, and the same signal as SciPy's polyphase resampler (resample_poly, up 2) at zero
    lag. Both are windowed-sinc interpolators that differ only in their filters' edges:
    measured 41.7-43.5 dB apart; before the pipeline took out the resampler's delay it was
    -3.4 to -1.2 dB at zero lag. The floor, 30 dB, fails for any misalignment of a sample
    or more while leaving room for the filters' difference."""
    import wave

    from scipy.signal import correlate, resample_poly

    clips = [DIGITS / w / f"{s}_nohash_{k}.wav" for w in ("zero", "seven") for s in ("george", "jackson")
             for k in (0, 7)][:6]
    for path in clips:
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8_000, 1, 2)
            raw = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
        assert len(raw) < 8_000
        clip = speech.read_clip(path).astype(np.float64)
        reference = resample_poly(raw, 2, 1)
        n = len(reference)
        assert clip.shape == (16_000,) and np.all(clip[n:] == 0) and np.any(clip[n - 20:n] != 0)
        lag = int(np.argmax(np.abs(correlate(clip[:n], reference, mode="full")))) - (n - 1)
        snr = 10 * np.log10(np.sum(reference ** 2) / np.sum((clip[:n] - reference) ** 2))
        assert lag == 0 and snr > 30.0, (path.name, lag, snr)
