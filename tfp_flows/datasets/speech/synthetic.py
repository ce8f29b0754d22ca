"""A Speech-Commands-shaped folder spoken by espeak-ng, for offline runs at a useful size.

`espeak-ng` (Debian package `espeak-ng`) speaks each of the 30 words with many voices:
several English accents times voice variants, random pitch and speed. Each clip is
resampled to 16 kHz, placed at a random offset in a one-second frame with a random gain,
and mixed with a little noise; files are named ``<speaker>_nohash_<k>.wav``, a speaker
being one (accent, variant, pitch) voice, and the validation and testing lists assign
whole speakers to a split by a hash of their name, as the real data set does (about
10% each). Written to a temporary folder and renamed into place when complete.
"""

import hashlib
import shutil
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from tfp_flows.datasets.speech.audio import read_clip  # resamples 22,050 Hz to 16 kHz, pads or cuts to 1 s

__all__ = ["WORDS", "espeak_available", "synthesise_speech_commands"]

WORDS = ["bed", "bird", "cat", "dog", "down", "eight", "five", "four", "go", "happy", "house",
         "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six",
         "stop", "three", "tree", "two", "up", "wow", "yes", "zero"]
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "Alex", "Andy",
            "Annie", "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael", "Mike", "Storm", "adam"]


def espeak_available():
    return shutil.which("espeak-ng") is not None


def _speak(text, voice, pitch, speed):
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", tmp.name, text],
                       check=True, capture_output=True)
        with wave.open(tmp.name) as w:
            n = w.getnframes() * 16_000 // w.getframerate()
        return read_clip(tmp.name)[: min(n, 16_000)]


def _write(path, audio):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def synthesise_speech_commands(root, clips_per_word=60, seed=0, noise=0.003, words=None, progress=True):
    """Write the folder (word folders, validation_list.txt, testing_list.txt); returns it.

    Raises:
      ValueError: espeak-ng is not installed, or `root` already exists.
    """
    if not espeak_available():
        raise ValueError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    root = Path(root)
    if root.exists():
        raise ValueError(f"{root} already exists; remove it or choose another folder")
    if not isinstance(clips_per_word, int) or clips_per_word < 1:
        raise ValueError(f"clips_per_word must be a positive integer, got {clips_per_word!r}")
    words = list(words or WORDS)
    rng = np.random.default_rng(seed)
    jobs = []
    for word in words:
        for k in range(clips_per_word):
            voice = f"{ACCENTS[rng.integers(len(ACCENTS))]}+{VARIANTS[rng.integers(len(VARIANTS))]}"
            pitch, speed = int(rng.integers(20, 80)), int(rng.integers(120, 230))
            speaker = hashlib.sha1(f"{voice}/{pitch}".encode()).hexdigest()[:8]
            jobs.append((word, k, voice, pitch, speed, speaker, float(rng.uniform(0.3, 1.0)),
                         float(rng.uniform(0, 1)), int(rng.integers(2**31))))
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    for word in words:
        (tmp / word).mkdir(parents=True)

    def make(job):
        word, k, voice, pitch, speed, speaker, gain, where, s = job
        spoken = _speak(word, voice, pitch, speed)
        peak = np.abs(spoken).max() or 1.0
        clip = np.zeros(16_000, np.float32)
        start = int(where * (16_000 - len(spoken)))
        clip[start:start + len(spoken)] = gain * 0.8 * spoken / peak
        clip += noise * np.random.default_rng(s).normal(size=16_000).astype(np.float32)
        name = f"{word}/{speaker}_nohash_{k}.wav"
        _write(tmp / name, clip)
        return name, speaker

    with ThreadPoolExecutor(max_workers=2) as pool:
        made = list(tqdm(pool.map(make, jobs), total=len(jobs), disable=None if progress else True, file=sys.stderr,
                         desc="espeak-ng", unit="clip"))
    lists = {"validation_list.txt": [], "testing_list.txt": []}
    for name, speaker in made:
        bucket = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 100
        if bucket < 10:
            lists["validation_list.txt"].append(name)
        elif bucket < 20:
            lists["testing_list.txt"].append(name)
    for fname, names in lists.items():
        (tmp / fname).write_text("".join(n + "\n" for n in sorted(names)))
    tmp.rename(root)
    return root

