"""Where the speech sits in a clip (`tfp_flows.experiments.onsets`, `tfp-flows-speech-onsets`)."""

import json

import numpy as np
import pytest

from conftest import write_wav
from tfp_flows.cli.speech_onsets import main
from tfp_flows.errors import UsageError
from tfp_flows.experiments.onsets import clip_onset


def _clip(rng, start, length=6_000, seconds=1.0, noise=1e-3):
    """Background noise for `seconds`, a 'word' (a loud tone) from sample `start`; zeros
    after `seconds` (a shorter recording, padded like the pipeline pads it)."""
    clip = np.zeros(16_000)
    n = int(16_000 * seconds)
    clip[:n] = rng.normal(size=n) * noise
    t = np.arange(length) / 16_000
    clip[start:start + length] += 0.5 * np.sin(2 * np.pi * 440 * t)
    return clip


def test_clip_onset_tells_a_word_at_the_start_from_one_in_the_middle(rng):
    early, late = clip_onset(_clip(rng, 0)), clip_onset(_clip(rng, 6_000))
    assert early["speech_in_first_frame"] and early["speaking_level_in_first_frame"]
    assert not late["speech_in_first_frame"] and not late["speaking_level_in_first_frame"]
    # A 0.5 amplitude tone over noise of sd 1e-3: (0.5^2/2) / 1e-6 = 51 dB above the floor.
    assert early["first_above_floor_db"] == pytest.approx(51, abs=1.5) and abs(late["first_above_floor_db"]) < 1.5
    assert late["first_below_peak_db"] == pytest.approx(51, abs=1.5)
    assert early["energy_share_first_frame"] == pytest.approx(512 / 6_000, rel=0.05)
    # A 0.4 s recording padded with zeros: the padding is neither floor nor recording.
    short = clip_onset(_clip(rng, 3_000, length=2_000, seconds=0.4))
    assert short["recording_seconds"] == pytest.approx(0.4, abs=1e-3) and abs(short["first_above_floor_db"]) < 1.5
    assert clip_onset(np.zeros(16_000)) is None


def test_speech_onsets_command_counts_a_folder(tmp_path_factory, rng):
    root = tmp_path_factory.mktemp("clips")
    for k in range(4):  # three words starting at once, one starting late
        write_wav(root / "zero" / f"{k:08x}_nohash_0.wav", _clip(rng, 0 if k < 3 else 8_000))
    lines = []
    out = root.parent / "onsets.json"
    assert main([str(root), "--json", str(out)], log=lines.append) == 0
    report = json.loads(out.read_text())[0]
    assert report["clips"] == 4 and report["fraction_speech_in_first_frame"] == 0.75
    assert report["fraction_speaking_level_in_first_frame"] == 0.75
    assert f"| {root} | 4 | 75.0% | 75.0% |" in lines[-1]
    with pytest.raises(UsageError, match="no such folder"):
        main([str(root / "missing")], log=lines.append)
