"""Speech Commands v0.01: download, clip lists, splits and WAV decoding.

The data set: one-second 16 kHz mono 16-bit WAVs of 30 words, one folder per word,
``validation_list.txt`` and ``testing_list.txt`` naming the official splits, and a
``_background_noise_`` folder that is not a word (ignored here).
"""

import wave
from pathlib import Path

import numpy as np

from tfp_flows.datasets.download import download

__all__ = ["SAMPLE_RATE", "SPEECH_URL", "download_speech", "list_clips", "load_clips", "load_wav",
           "split_clips"]

SAMPLE_RATE = 16_000
SPEECH_URL = "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz"


def download_speech(data_dir="data/speech_commands_v0.01", progress=True, url=SPEECH_URL):
    """Download (if needed) and unpack the v0.01 tarball into `data_dir`; returns it.

    The tarball's published sha256 is not known to this project: the first download
    records it beside the archive and later downloads are checked against it. Members
    with absolute paths or ``..`` are refused.
    """
    import tarfile

    data_dir = Path(data_dir)
    if (data_dir / "testing_list.txt").exists():
        return data_dir
    archive = download(url, data_dir.parent / "speech_commands_v0.01.tar.gz",
                       checksum_file=data_dir.parent / "speech_commands_v0.01.tar.gz.sha256",
                       progress=progress)
    tmp = data_dir.with_name(data_dir.name + ".part")
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.name.startswith("/") or ".." in Path(m.name).parts:
                raise ValueError(f"{archive}: refusing unsafe member {m.name!r}")
        tar.extractall(tmp)
    tmp.rename(data_dir)
    return data_dir


def list_clips(root):
    """{word: sorted relative paths 'word/file.wav'} for every word folder under `root`.

    Raises:
      ValueError: `root` missing or holding no word folder with WAV files.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: no such folder (get it with `make train-speech`; see README, 'Data')")
    clips = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        wavs = sorted(f"{d.name}/{f.name}" for f in d.iterdir() if f.suffix.lower() == ".wav")
        if wavs:
            clips[d.name] = wavs
    if not clips:
        raise ValueError(f"{root}: no word folders with .wav files")
    return clips


def split_clips(root, clips, word, split="p2", seed=0):
    """Split the target word's clips; returns (train, validation, test) lists of paths.

    * ``p2``: P2's random 50/50 train/test split of the word's clips (seeded); no
      validation set.
    * ``official``: the data set's lists: clips named in validation_list.txt or
      testing_list.txt go there, the rest is training.
    """
    if word not in clips:
        raise ValueError(f"word {word!r} has no clips under {root}; words: {' '.join(sorted(clips))}")
    mine = clips[word]
    if split == "p2":
        order = np.random.default_rng(seed).permutation(len(mine))
        half = len(mine) // 2
        if half == 0:
            raise ValueError(f"word {word!r} has {len(mine)} clip(s): too few to split")
        return [mine[i] for i in order[:half]], [], [mine[i] for i in order[half:]]
    if split != "official":
        raise ValueError(f"split must be 'p2' or 'official', got {split!r}")
    lists = {}
    for name in ("validation_list.txt", "testing_list.txt"):
        path = Path(root) / name
        if not path.exists():
            raise ValueError(f"{path}: missing; the official split needs it (or use --split p2)")
        lists[name] = set(path.read_text().split())
    val = [c for c in mine if c in lists["validation_list.txt"]]
    test = [c for c in mine if c in lists["testing_list.txt"]]
    train = [c for c in mine if c not in lists["validation_list.txt"] and c not in lists["testing_list.txt"]]
    if not train or not test:
        raise ValueError(f"word {word!r}: the official lists leave {len(train)} training and "
                         f"{len(test)} test clips")
    return train, val, test


def load_wav(path, notes=None):
    """Decode a PCM WAV to float32 mono at 16 kHz, padded with zeros or cut to 16000 samples.

    16-bit files are decoded by `tf.audio.decode_wav`; 8-bit ones by hand. Stereo is
    averaged to mono and other sample rates are resampled (polyphase, scipy); each such
    fix is appended to `notes` (a list) when given.

    Raises:
      ValueError: one line naming the file for anything that is not a readable PCM WAV
        (not a WAV, truncated, compressed, empty).
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError, OSError) as err:
        reason = str(err) or type(err).__name__
        raise ValueError(f"{path}: not a readable PCM WAV file ({reason})") from None
    if frames == 0 or len(raw) < frames * channels * width:
        raise ValueError(f"{path}: truncated or empty WAV ({len(raw)} of {frames * channels * width} bytes)")
    if width == 2:
        import tensorflow as tf

        audio = tf.audio.decode_wav(path.read_bytes(), desired_channels=channels).audio.numpy()
    elif width == 1:
        audio = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        audio = audio.reshape(-1, channels)
        if notes is not None:
            notes.append(f"{path.name}: 8-bit PCM converted")
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (16- or 8-bit PCM only)")
    if channels > 1:
        audio = audio.mean(axis=1, keepdims=True)
        if notes is not None:
            notes.append(f"{path.name}: {channels} channels averaged to mono")
    audio = audio[:, 0]
    if rate != SAMPLE_RATE:
        from math import gcd

        import scipy.signal

        g = gcd(rate, SAMPLE_RATE)
        audio = scipy.signal.resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)
        if notes is not None:
            notes.append(f"{path.name}: resampled from {rate} Hz to {SAMPLE_RATE} Hz")
    out = np.zeros(SAMPLE_RATE, np.float32)
    out[: min(len(audio), SAMPLE_RATE)] = audio[:SAMPLE_RATE]
    return out


def load_clips(root, paths, notes=None):
    """[n, 16000] float32 audio for the given relative paths."""
    return np.stack([load_wav(Path(root) / p, notes) for p in paths]) if paths else np.zeros((0, SAMPLE_RATE), np.float32)
