"""Where the speech sits in a clip, and so what P2's feature can see of it: `onset_report(root)`.

P2's feature is the spectrum of a clip's first 512 samples (32 ms) only
(`tfp_flows.datasets.speech.features.p2_features`). Whether it describes the word or
the recording's background therefore depends on the corpus: on whether the word has
begun by sample 512. For every clip of a folder (decoded to 16 kHz like the pipeline
does) this measures:

* the recording: the clip up to its last non-zero sample (the pipeline pads shorter
  recordings with zeros, which are not part of the recording);
* frames of 512 samples, back to back, over the recording; each frame's energy (mean
  square); the clip's noise floor: the 10th percentile of its frames' energies (the
  quietest tenth of the recording), its peak: the loudest frame;
* the first frame's level above the noise floor and below the peak, in dB; the clip
  "holds speech in its first 512 samples" when the first frame is at least `margin_db`
  (10) dB above the noise floor, and holds it "at speaking level" when the first frame
  is within `peak_db` (20) dB of the loudest one (a recording trimmed to the word has
  little or no background to take a floor from, so both are reported);
* the share of the recording's energy that falls in the first 512 samples.

`onset_report` returns the fraction of clips with speech in the first frame and the
medians of the other figures, per folder.
"""

from pathlib import Path

import numpy as np

from tfp_flows.datasets import speech
from tfp_flows.datasets.speech.pipeline import clip_dataset

__all__ = ["FRAME", "clip_onset", "onset_report"]

FRAME = 512  # the samples P2's feature sees


def clip_onset(clip, margin_db=10.0, peak_db=20.0, frame=FRAME):
    """The onset figures of one clip (float array [16000] at 16 kHz); see the module."""
    clip = np.asarray(clip, np.float64)
    nonzero = np.flatnonzero(clip)
    if nonzero.size == 0:
        return None
    recording = clip[:max(nonzero[-1] + 1, frame)]
    n = len(recording) // frame
    energy = (recording[:n * frame].reshape(n, frame) ** 2).mean(1) + 1e-20
    floor, peak = np.percentile(energy, 10), energy.max()
    first_db, below_peak = 10 * np.log10(energy[0] / floor), 10 * np.log10(peak / energy[0])
    return {"first_above_floor_db": float(first_db), "first_below_peak_db": float(below_peak),
            "speech_in_first_frame": bool(first_db >= margin_db), "speaking_level_in_first_frame": bool(below_peak <= peak_db),
            "energy_share_first_frame": float(np.sum(recording[:frame] ** 2) / np.sum(recording ** 2)),
            "recording_seconds": len(recording) / 16_000}


def onset_report(root, max_clips=None, margin_db=10.0, peak_db=20.0, seed=0):
    """Onset figures of the clips under `root` (a folder in the Speech Commands layout);
    `max_clips` draws that many at random (seed `seed`) instead of reading them all."""
    root = Path(root)
    clips = speech.list_clips(root)
    paths = [p for w in sorted(clips) for p in clips[w]]
    if not paths:
        raise ValueError(f"{root}: no clips (expected one folder of audio files per word)")
    if max_clips is not None and max_clips < len(paths):
        pick = np.random.default_rng(seed).choice(len(paths), max_clips, replace=False)
        paths = [paths[i] for i in sorted(pick)]
    rows = []
    for _, clip in clip_dataset([root / p for p in paths]):
        row = clip_onset(clip.numpy(), margin_db, peak_db)
        if row is not None:
            rows.append(row)
    if not rows:
        raise ValueError(f"{root}: none of its {len(paths)} clips could be read")

    def median(key):
        return float(np.median([r[key] for r in rows]))

    def fraction(key):
        return float(np.mean([r[key] for r in rows]))

    return {"folder": str(root), "clips": len(rows), "margin_db": margin_db, "peak_db": peak_db,
            "fraction_speech_in_first_frame": fraction("speech_in_first_frame"),
            "fraction_speaking_level_in_first_frame": fraction("speaking_level_in_first_frame"),
            "median_first_above_floor_db": median("first_above_floor_db"),
            "median_first_below_peak_db": median("first_below_peak_db"),
            "median_energy_share_first_frame": median("energy_share_first_frame"),
            "median_recording_seconds": median("recording_seconds")}
