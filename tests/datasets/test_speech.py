"""Speech Commands: reader, splits, decoding, features, anomaly metrics, scoring."""

import csv
import io
import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from conftest import REPRODUCTIONS, ROOT
from tfp_flows.datasets import speech
from tfp_flows.experiments.anomaly import anomaly_report, roc_auc, threshold_from

SAMPLE = ROOT.parent / "shared" / "data" / "speech_commands_v0.01_sample"
needs_sample = pytest.mark.skipif(not SAMPLE.is_dir(), reason="shared Speech Commands sample absent")


def test_reader_and_official_split_on_synthesised_wavs(fake_root):
    clips = speech.list_clips(fake_root)
    assert sorted(clips) == ["one", "two", "zero"] and len(clips["zero"]) == 6
    train, val, test = speech.split_clips(fake_root, clips, "zero", "official")
    assert (len(train), len(val), len(test)) == (3, 1, 2)
    assert not set(train) & set(test)
    train, val, test = speech.split_clips(fake_root, clips, "zero", "p2", seed=1)
    assert (len(train), len(val), len(test)) == (3, 0, 3)
    assert speech.split_clips(fake_root, clips, "zero", "p2", seed=1)[0] == train


@needs_sample
def test_reader_and_split_lists_on_the_shared_sample():
    clips = speech.list_clips(SAMPLE)
    assert len(clips) == 30 and all(len(v) == 10 for v in clips.values())
    train, val, test = speech.split_clips(SAMPLE, clips, "zero", "official")
    listed_test = set((SAMPLE / "testing_list.txt").read_text().split())
    assert set(test) <= listed_test and not set(train) & listed_test
    audio = np.stack([speech.read_clip(SAMPLE / p) for p in clips["zero"][:3]])
    assert audio.shape == (3, 16_000) and audio.dtype == np.float32 and np.abs(audio).max() <= 1


@pytest.mark.parametrize("problem, fragment", [
    ("missing", "no such folder"), ("empty", "no word folders"), ("noword", "no clips"),
    ("nolist", "validation_list.txt: missing")])
def test_reader_errors(tmp_path, fake_root, problem, fragment):
    with pytest.raises(ValueError, match=fragment):
        if problem == "missing":
            speech.list_clips(tmp_path / "nope")
        elif problem == "empty":
            (tmp_path / "empty").mkdir()
            speech.list_clips(tmp_path / "empty")
        elif problem == "noword":
            speech.split_clips(fake_root, speech.list_clips(fake_root), "seven", "p2")
        else:
            (fake_root / "validation_list.txt").unlink()
            speech.split_clips(fake_root, speech.list_clips(fake_root), "zero", "official")


def test_p2_features_see_only_the_first_512_samples(rng):
    audio = rng.normal(size=(3, 16_000)).astype(np.float32) * 0.1
    changed = audio.copy()
    changed[:, 512:] = rng.normal(size=(3, 16_000 - 512))
    a, b = np.asarray(speech.p2_features(audio)), np.asarray(speech.p2_features(changed))
    assert a.shape == (3, 257)
    np.testing.assert_array_equal(a, b)  # identical: the rest of the clip never reaches the FFT
    early = audio.copy()
    early[:, 300:512] += 0.5
    assert not np.allclose(speech.p2_features(early), a)


def test_logmel_features_see_the_whole_clip(rng):
    audio = rng.normal(size=(2, 16_000)).astype(np.float32) * 0.1
    late = audio.copy()
    late[:, 12_000:] += np.sin(np.arange(4000) / 3.0).astype(np.float32)
    f = np.asarray(speech.logmel_features(audio))
    assert f.shape == (2, 80) and np.all(np.isfinite(f))
    assert not np.allclose(speech.logmel_features(late), f)


def _word(rng, pitches, start=2_000, part=1_600):
    """A 'word' of four consecutive 100 ms tones (harmonics of `pitches`, noise under
    them) starting at sample `start` of a second of faint noise."""
    clip = rng.normal(size=16_000).astype(np.float32) * 1e-4
    t = np.arange(part) / 16_000
    for k, f in enumerate(pitches):
        tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3)) * np.hanning(part)
        clip[start + k * part:start + (k + 1) * part] += 0.3 * tone
    return clip


def test_mfccseg_features_follow_the_word_in_time_not_its_gain_or_position(rng):
    word = _word(rng, (200, 400, 700, 1000))
    f = np.asarray(speech.mfccseg_features(word))
    assert f.shape == (52,) and np.all(np.isfinite(f))
    batch = np.asarray(speech.mfccseg_features(np.stack([word, 0.5 * word])))
    np.testing.assert_allclose(batch[0], f, atol=1e-4)
    # Gain: only the first coefficient moves with it, and it is taken relative to the word's mean.
    np.testing.assert_allclose(np.asarray(speech.mfccseg_features(10 * word)), f, atol=1e-3)
    # Position: the same word 0.4 s later (a whole number of 10 ms frames) gives the same values.
    later = np.roll(word, 6_400)
    np.testing.assert_allclose(np.asarray(speech.mfccseg_features(later)), f, atol=1e-3)
    # Order in time: the same sounds the other way round swap the four parts, which a
    # summary over the whole clip (logmel's mean and spread) hardly sees.
    backwards = _word(rng, (1000, 700, 400, 200))
    g = np.asarray(speech.mfccseg_features(backwards)).reshape(4, 13)
    swapped = np.abs(g - f.reshape(4, 13)).max()
    assert swapped > 20 and np.abs(g[::-1] - f.reshape(4, 13)).max() < swapped / 20  # (measured: 50.4 and 1.0)
    lm_f, lm_b = np.asarray(speech.logmel_features(word)), np.asarray(speech.logmel_features(backwards))
    assert np.abs(lm_f - lm_b).max() < swapped / 20  # (0.11)
    # Silence: finite values, no division by an empty part.
    assert np.all(np.isfinite(np.asarray(speech.mfccseg_features(np.zeros(16_000, np.float32)))))


def test_auc_on_constructed_scores():
    assert roc_auc([3, 4, 5], [1, 2]) == 1.0
    assert roc_auc([1, 2], [3, 4]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5
    assert roc_auc([1, 3], [2, 4]) == 0.25  # pairs won: (3 > 2) only, of 4
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 4000), rng.normal(0, 1, 4000)
    # Two unit normals one sd apart: AUC = Phi(1 / sqrt(2)) = 0.7602.
    assert abs(roc_auc(pos, neg) - 0.7602) < 0.015


def test_anomaly_report_counts_and_threshold():
    report = anomaly_report([0.0, 1.0, 2.0], {"a": [5.0, 6.0], "b": [-3.0, -2.0], "c": [0.5, 1.5]})
    assert report["n_above"] == 1 and report["n_below"] == 2
    assert report["words"]["a"]["above_target"] and report["words"]["b"]["auc"] == 1.0
    assert report["overall_auc"] == pytest.approx((0 + 6 + 3) / 18)
    assert threshold_from([1, 2, 3, 4, 5], 0.25) == 2.0
    with pytest.raises(ValueError, match="quantile"):
        threshold_from([1, 2], 1.5)


def test_anomaly_report_compares_means_and_orients_the_auc():
    # The word's mean (2.67) is below the target's (3), its median (4) above: the count
    # must follow the mean. target vs word: 3 pairs won, 2 ties, of 9 -> 4/9 (swapping the
    # arguments would give 5/9).
    report = anomaly_report([2.0, 3.0, 4.0], {"w": [0.0, 4.0, 4.0]})
    assert report["words"]["w"]["above_target"] is False and report["n_above"] == 0
    assert report["words"]["w"]["mean_log_likelihood"] == pytest.approx(8 / 3)
    assert report["words"]["w"]["auc"] == pytest.approx(4 / 9)
    assert report["overall_auc"] == pytest.approx(4 / 9)
    skewed = anomaly_report([0.0, 0.0, 9.0], {"v": [1.0, 3.5, 3.5]})  # word mean 2.67 < 3 < its median 3.5
    assert skewed["words"]["v"]["above_target"] is False and skewed["target_mean_log_likelihood"] == 3.0


def _run(*args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def test_train_then_score_a_wav(fake_root, tmp_path):
    run = tmp_path / "run"
    proc = _run("-m", "tfp_flows.cli.train_speech", "--data", fake_root, "--features", "logmel", "--split",
                "official", "--epochs", "2", "--layers", "2", "--hidden", "16", "--out", run, "--no-progress",
                "--cache", tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    res = json.loads((run / "results.json").read_text())
    assert res["features"] == "logmel" and set(res["anomaly"]["words"]) == {"one", "two"}
    assert res["threshold"]["reference"] == "validation clips" and (run / "scores.png").exists()
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    proc = _run("-m", "tfp_flows.cli.score_audio", "--run", run, fake_root / "zero" / "00000003_nohash_0.wav", bad)
    assert proc.returncode == 1
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 1 and rows[0]["item"] == "clip" and rows[0]["flagged"] in ("0", "1")
    assert np.isfinite(float(rows[0]["log_density"]))
    assert "bad.wav: not a supported audio file" in proc.stderr and "Traceback" not in proc.stderr


def test_train_speech_refuses_a_word_with_no_clips(fake_root, tmp_path):
    proc = _run("-m", "tfp_flows.cli.train_speech", "--data", fake_root, "--word", "seven", "--out", tmp_path / "r")
    assert proc.returncode == 1 and "no clips" in proc.stderr and not (tmp_path / "r").exists()


def test_audio_reproduction_without_data_skips(tmp_path):
    proc = _run(REPRODUCTIONS / "p2_audio.py", "--data", tmp_path / "none", "--out", tmp_path / "o")
    assert proc.returncode == 3 and proc.stdout.startswith("SKIP")


@needs_sample
def test_audio_reproduction_runs_end_to_end_on_the_sample(script, tmp_path, capsys):
    code = script("p2_audio").main(["--data", str(SAMPLE), "--layers", "2", "--hidden", "16", "16",
                                    "--epochs", "2", "--out", str(tmp_path), "--no-progress",
                                    "--cache", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 0 and "too small to compare" in out and "P2 | ours" in out


def test_download_speech_unpacks_a_served_tarball(fake_root, tmp_path):
    """The real download path, against a local HTTP server on 127.0.0.1 serving a fixture tarball."""
    import http.server
    import tarfile
    import threading

    archive = tmp_path / "served" / "speech_commands_v0.01.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(fake_root.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(fake_root)), recursive=False)
    def handler(*a, **k):
        return http.server.SimpleHTTPRequestHandler(*a, directory=str(archive.parent), **k)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{archive.name}"
        root = speech.download_speech(tmp_path / "data" / "speech_commands_v0.01", progress=False, url=url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert sorted(speech.list_clips(root)) == ["one", "two", "zero"]
    assert (root / "testing_list.txt").exists()
    assert (tmp_path / "data" / "speech_commands_v0.01.tar.gz.sha256").exists()


@pytest.mark.skipif(not __import__("shutil").which("espeak-ng"), reason="espeak-ng not installed")
def test_espeak_generator_writes_the_speech_commands_layout(tmp_path):
    from tfp_flows.datasets.speech.synthetic import synthesise_speech_commands

    root = synthesise_speech_commands(tmp_path / "synth", 6, seed=3, words=["zero", "cat"], progress=False)
    clips = speech.list_clips(root)
    assert sorted(clips) == ["cat", "zero"] and all(len(v) == 6 for v in clips.values())
    with wave.open(str(root / clips["zero"][0])) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 16_000, 16_000)
    listed = set((root / "validation_list.txt").read_text().split()) | set((root / "testing_list.txt").read_text().split())
    everything = {c for v in clips.values() for c in v}
    assert listed <= everything
    audio = np.stack([speech.read_clip(root / p) for p in clips["zero"]])
    assert np.all(np.abs(audio).max(axis=1) > 0.1)  # speech, not silence
    with pytest.raises(ValueError, match="already exists"):
        synthesise_speech_commands(root, 1)


_FRESH_AUDIO = """
import json, sys
import numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = {"method": m.log_prob_audio(x).numpy().tolist(),
       "signature": m.signatures["log_prob_audio"](samples=tf.constant(x))["output_0"].numpy().tolist(),
       "modules": [n for n in ("tfp_flows", "tensorflow_probability", "tensorflow_io") if n in sys.modules]}
print(json.dumps(out))
"""


@pytest.mark.parametrize("features", ["logmel", "mfccseg"])
def test_exported_speech_model_scores_raw_audio_like_score_audio(fake_root, tmp_path, features):
    """A speech run's SavedModel takes 16 kHz waveforms (`log_prob_audio`, the feature computed
    in the graph): TensorFlow alone, without tensorflow-io, TFP or this package, scores clips
    as `tfp-flows-score-audio` does, to 1e-4. The clips: real spoken digits (8 kHz) when the
    shared recordings are there, else the test's own tones."""
    run = tmp_path / "run"
    proc = _run("-m", "tfp_flows.cli.train_speech", "--data", fake_root, "--features", features, "--split",
                "official", "--epochs", "1", "--layers", "2", "--hidden", "16", "--out", run, "--no-progress",
                "--cache", tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    digits = ROOT.parent / "shared" / "data" / "free_spoken_digits"
    clips = (sorted((digits / "zero").glob("*.wav"))[:3] + sorted((digits / "nine").glob("*.wav"))[:3]
             if digits.is_dir() else sorted((fake_root / "one").glob("*.wav"))[:4])
    proc = _run("-m", "tfp_flows.cli.score_audio", "--run", run, *clips)
    assert proc.returncode == 0, proc.stderr
    expected = [float(r["log_density"]) for r in csv.DictReader(io.StringIO(proc.stdout))]
    assert len(expected) == len(clips)

    assert _run("-m", "tfp_flows.cli.export", "--run", run, "--out", tmp_path / "model").returncode == 0
    np.save(tmp_path / "x.npy", np.stack([speech.read_clip(c) for c in clips]).astype(np.float32))
    proc = _run("-c", _FRESH_AUDIO, tmp_path / "model", tmp_path / "x.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["modules"] == []
    np.testing.assert_allclose(got["method"], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got["signature"], expected, rtol=1e-4, atol=1e-4)
