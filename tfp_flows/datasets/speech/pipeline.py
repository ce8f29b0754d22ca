"""Speech clips through `tf.data`: paths -> bytes -> decoded clip -> features, in parallel,
cached on disk, batched.

`extract_features(root, paths, "logmel")` is what the experiments call: it returns the
features of every clip that could be read, the clips it kept, and one line for each
clip it could not read. The first pass decodes (`audio.decode_clip`: tensorflow-io or soundfile) and
computes the features with `num_parallel_calls=AUTOTUNE` and writes them to a
`tf.data` cache; later passes read the cache. The cache's folder name is a hash of the
feature (and its version), the clip list, and each file's size, modification and change
time (`tfp_flows.files.listing_sha256`, also what identifies a data folder for run
reuse) and the decoder, so another feature, another list of clips or a changed file builds a new one. It is
written under a temporary name and renamed when complete: an interrupted pass leaves
nothing that a later run would read.
"""

import json
import os
import shutil
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfp_flows.datasets.speech.audio import backend, decode_clip, read_clip
from tfp_flows.datasets.speech.features import FEATURES
from tfp_flows.files import listing_sha256

__all__ = ["DEFAULT_CACHE", "FEATURE_VERSION", "cache_key", "clip_dataset", "extract_features"]

DEFAULT_CACHE = Path("data/speech/cache")
FEATURE_VERSION = 4  # change when decoding or a feature changes: old caches are then not read (4: mfccseg at 25 dB)


def clip_dataset(paths: Sequence[Union[str, Path]], feature: Optional[str] = None) -> tf.data.Dataset:
    """A `tf.data.Dataset` of (position in `paths` (int64), value), one element per clip
    that could be read, in the order of `paths`; the value is the clip [16000] or, with
    `feature` (a name in `FEATURES`), its features. Clips that cannot be decoded are
    dropped: compare the positions with `range(len(paths))` to find them."""
    featurise = FEATURES[feature] if feature else (lambda clip: clip)

    @tf.autograph.experimental.do_not_convert  # plain TensorFlow: nothing to convert, faster to trace
    def load(i, path):
        return i, featurise(decode_clip(tf.io.read_file(path)))

    paths = [str(p) for p in paths]
    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(paths), dtype=tf.int64), tf.constant(paths, tf.string)))
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()


def cache_key(root, paths, feature):
    """Hex digest naming the cache of `feature` over `paths` (relative to `root`) as the files
    are now (`tfp_flows.files.listing_sha256`), decoded by this stack's decoder."""
    return listing_sha256(root, paths, prefix=f"{feature}\0{FEATURE_VERSION}\0{backend()}\0{Path(root).resolve()}\0")


def extract_features(root: Union[str, Path], paths: Sequence[str], feature: str, cache_dir: Union[str, Path] = DEFAULT_CACHE,
                     batch_size: int = 256, progress: bool = False) -> Tuple[np.ndarray, List[str], List[str]]:
    """Features of the clips `paths` (relative to `root`).

    Returns:
      (features float32 [n_read, F], the paths read (in order), one line per clip that
      could not be read: "<file>: <reason>").
    """
    root, paths = Path(root), [str(p) for p in paths]
    if not paths:
        return np.zeros((0, 0), np.float32), [], []
    full = [str(root / p) for p in paths]
    final = tmp = None
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        final = cache_dir / f"{feature}-{cache_key(root, paths, feature)[:24]}"
    if final is not None and (final / "manifest.json").exists():
        # A complete cache: read it behind an empty input of the same element type, so
        # the decoding graph is not even built.
        width = json.loads((final / "manifest.json").read_text())["width"]
        empty = (tf.zeros([0], tf.int64), tf.zeros([0, width], tf.float32))
        ds = tf.data.Dataset.from_tensor_slices(empty).cache(str(final / "features"))
    else:
        ds = clip_dataset(full, feature)
        if final is not None:
            shutil.rmtree(final, ignore_errors=True)
            tmp = final.with_name(f"{final.name}.part{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            ds = ds.cache(str(tmp / "features"))
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    index, values = [], []
    try:
        with tqdm(total=len(paths), disable=None if progress else True, file=sys.stderr, unit="clip",
                  desc=f"{feature} features") as bar:
            for i, v in ds:
                index.append(i.numpy())
                values.append(v.numpy())
                bar.update(len(i))
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    index = np.concatenate(index) if index else np.zeros(0, np.int64)
    values = np.concatenate(values) if values else np.zeros((0, 0), np.float32)
    if final is not None and tmp is None:
        bad = json.loads((final / "manifest.json").read_text())["bad"]
    else:
        bad = [_why(full[i]) for i in sorted(set(range(len(paths))) - set(index.tolist()))]
        if tmp is not None:
            width = int(ds.element_spec[1].shape[-1])  # what the cache holds, read back by the branch above
            (tmp / "manifest.json").write_text(json.dumps({"width": width, "bad": bad, "clips": len(paths)}))
            try:
                tmp.rename(final)
            except OSError:  # another process finished the same cache first
                shutil.rmtree(tmp, ignore_errors=True)
    return values.astype(np.float32), [paths[i] for i in index], bad


def _why(path):
    """The one-line reason a clip was dropped, from decoding it alone."""
    try:
        read_clip(path)
    except ValueError as err:
        return str(err)
    return f"{path}: its features could not be computed"
