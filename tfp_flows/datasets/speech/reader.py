"""Speech Commands v0.01: download, clip lists and splits (decoding: `audio`, `pipeline`).

The data set: one-second 16 kHz mono 16-bit WAVs of 30 words, one folder per word,
``validation_list.txt`` and ``testing_list.txt`` naming the official splits, and a
``_background_noise_`` folder that is not a word (ignored here).
"""

import tarfile
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from tfp_flows.datasets.download import download

__all__ = ["SPEECH_URL", "download_speech", "list_clips", "split_clips"]

SPEECH_URL = "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz"


def download_speech(data_dir: Union[str, Path] = "data/speech_commands_v0.01", progress: bool = True,
                    url: str = SPEECH_URL) -> Path:
    """Download (if needed) and unpack the v0.01 tarball into `data_dir`; returns it.

    The tarball's published sha256 is not known to this project: the first download
    records it beside the archive and later downloads are checked against it. Members
    with absolute paths or ``..`` are refused.
    """
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


def list_clips(root: Union[str, Path]) -> Dict[str, List[str]]:
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


def split_clips(root: Union[str, Path], clips: Dict[str, List[str]], word: str, split: str = "p2",
                seed: int = 0) -> Tuple[List[str], List[str], List[str]]:
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
