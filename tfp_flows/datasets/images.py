"""Images for density estimation: an IDX reader, Fashion-MNIST, and the MAF paper's
preprocessing of MNIST (Papamakarios et al., 2017, and its published code).

* `read_idx(path)`: an IDX file (gzip-compressed or plain) as a numpy array, its magic
  number, type code, shape and byte count checked (a truncated, overlong or mislabelled
  file is one line naming it).
* `load_fashion_mnist(folder)`: the four files (as Debian's `dataset-fashion-mnist`
  installs them, or as upstream publishes them) as uint8 images [n, 28, 28] and labels,
  each checked against the dataset's counts and classes.
* `logit_preprocess(pixels, rng)`: the paper's recipe: uniform dequantisation
  (pixel + u) / 256 with u ~ U[0, 1), then y = logit(lambda + (1 - 2 lambda) x),
  lambda = 1e-6; `pixel_log_det` turns a log-density of y into one of x, and
  `bits_per_pixel` into bits per pixel of the 0-255 pixel scale.
* `split_validation(n)`: the last 10% of the training images for validation, unshuffled,
  as the paper's code splits its tabular sets (its MNIST came pre-split from a pickle,
  50,000 + 10,000: pass ``fraction=1/6`` for that).
* `image_dataset(...)`: a `tf.data` pipeline that dequantises afresh every epoch.
* `download_fashion_mnist(folder)`: the upstream files, streamed and verified by the
  sha256 of their decompressed contents (the same for Debian's and upstream's copies,
  whose gzip bytes differ).
"""

import gzip
import hashlib
import math
from pathlib import Path
from typing import Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfp_flows.datasets.download import DownloadError, download

__all__ = ["ALPHA", "FASHION_MNIST", "FASHION_MNIST_CLASSES", "FASHION_MNIST_URL", "ImageSet", "bits_per_pixel",
           "download_fashion_mnist", "image_dataset", "load_fashion_mnist", "logit_preprocess", "pixel_log_det",
           "read_idx", "split_validation"]

ALPHA = 1e-6  # the MAF paper's lambda
# IDX type codes -> numpy big-endian dtypes (LeCun's format description).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# What a file that is not IDX may be instead (its first bytes, after one gzip layer).
_LOOKS_LIKE = ((b"\x1f\x8b", "gzip inside gzip: compressed twice?"), (b"PK\x03\x04", "a zip archive: unzip it first"),
               (b"BZh", "bzip2-compressed"), (b"\xfd7zXZ", "xz-compressed"),
               (b"<", "text or HTML: a web page saved in its place?"))
FASHION_MNIST_URL = "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
# name -> (shape, sha256 of the decompressed file), read off the Debian package's files.
FASHION_MNIST = {
    "train-images-idx3-ubyte.gz": ((60000, 28, 28), "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": ((60000,), "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": ((10000, 28, 28), "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": ((10000,), "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")


def _raw_bytes(path: Path) -> bytes:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err})") from None
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: a damaged or truncated gzip file ({err})") from None
    return data


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """The array an IDX file holds (gzip-compressed or plain), in native byte order.

    Raises:
      ValueError: one line naming the file: not IDX (magic number), an unknown type
        code, or a data part shorter or longer than its header says.
    """
    path = Path(path)
    data = _raw_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        looks = next((f"; {what}" for magic, what in _LOOKS_LIKE if data.startswith(magic)), "")
        raise ValueError(f"{path}: not an IDX file (its first bytes are {data[:4].hex() or 'missing'}{looks})")
    code, ndim = data[2], data[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: an IDX header of {ndim} dimensions is cut short")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = math.prod(shape) * dtype.itemsize  # Python integers: a mangled header cannot overflow
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise ValueError(f"{path}: {what}: shape {'x'.join(map(str, shape))} needs {expected} bytes of data, "
                         f"found {found}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class ImageSet(NamedTuple):
    train_images: np.ndarray  # uint8 [n, 28, 28]
    train_labels: np.ndarray  # int64 [n]
    test_images: np.ndarray
    test_labels: np.ndarray


def _find(folder: Path, name: str) -> Path:
    """The file `name` in `folder`: gzip-compressed or not, and also under MNIST's dotted
    spelling (train-images.idx3-ubyte), which some copies use."""
    dotted = name.replace("-idx", ".idx")
    candidates = [folder / n for n in (name, name[:-3], dotted, dotted[:-3])]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    for candidate in candidates:
        if candidate.exists():
            raise ValueError(f"{candidate}: a folder, not an IDX file")
    raise ValueError(f"{folder}: no {name} (apt-get install dataset-fashion-mnist puts the four files in "
                     "/usr/share/datasets/fashion-mnist; or download_fashion_mnist)")


def load_fashion_mnist(folder: Union[str, Path]) -> ImageSet:
    """The four Fashion-MNIST files of `folder`, each checked: images [n, 28, 28] uint8,
    labels [n] in 0..9, the counts of the dataset, images and labels of the same size.

    Raises:
      ValueError: one line naming the file at fault.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'} (expected the "
                         "folder of the four Fashion-MNIST files)")
    arrays = {}
    for name, (shape, _) in FASHION_MNIST.items():
        path = _find(folder, name)
        values = read_idx(path)
        if values.dtype != np.uint8:
            raise ValueError(f"{path}: holds {values.dtype}, expected unsigned bytes")
        if values.shape != shape:
            kind = "images" if len(shape) == 3 else "labels"
            raise ValueError(f"{path}: shape {'x'.join(map(str, values.shape))}, expected {kind} of shape "
                             f"{'x'.join(map(str, shape))} (a mislabelled or partial file?)")
        if len(shape) == 1 and values.max() > 9:
            raise ValueError(f"{path}: label {values.max()} outside the 10 classes 0..9")
        arrays[name.split("-idx")[0]] = values
    return ImageSet(arrays["train-images"], arrays["train-labels"].astype(np.int64),
                    arrays["t10k-images"], arrays["t10k-labels"].astype(np.int64))


def split_validation(n: int, fraction: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of n training images: the last `fraction` for
    validation, unshuffled."""
    cut = n - int(round(n * fraction))
    return np.arange(cut), np.arange(cut, n)


def logit_preprocess(pixels: np.ndarray, rng: Optional[np.random.Generator],
                     alpha: float = ALPHA) -> Tuple[np.ndarray, np.ndarray]:
    """The MAF paper's MNIST preprocessing of uint8 pixels [..., D]: x = (pixel + u) / 256,
    u ~ U[0, 1) (from `rng`, a numpy Generator; None: no noise, u = 0.5), then
    y = logit(alpha + (1 - 2 alpha) x). Returns (y float64, x float64)."""
    pixels = np.asarray(pixels, np.float64)
    u = 0.5 if rng is None else rng.random(pixels.shape)
    x = (pixels + u) / 256.0
    s = alpha + (1 - 2 * alpha) * x
    return np.log(s) - np.log1p(-s), x


def pixel_log_det(y: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """sum over the last axis of log |dy/dx| for y = logit(alpha + (1 - 2 alpha) x), from y:
    log p_x(x) = log p_y(y) + pixel_log_det(y). With s = sigmoid(y),
    dy/dx = (1 - 2 alpha) / (s (1 - s)), and log(s (1 - s)) = -softplus(-y) - softplus(y)."""
    y = np.asarray(y, np.float64)
    log_s_one_minus_s = -np.logaddexp(0, -y) - np.logaddexp(0, y)
    return np.sum(np.log1p(-2 * alpha) - log_s_one_minus_s, axis=-1)


def bits_per_pixel(log_p_y: np.ndarray, y: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Bits per pixel on the 0-255 scale from log-densities of logit-space rows y [n, D]:
    the density of x = (pixel + u) / 256 is p_y(y) |dy/dx|, and of the pixel scale
    (256 x) 256^-D of that, so bpp = -(log p_y + log-det - D log 256) / (D log 2)."""
    y = np.asarray(y, np.float64)
    dims = y.shape[-1]
    log_p_x = np.asarray(log_p_y, np.float64) + pixel_log_det(y, alpha)
    return -(log_p_x - dims * np.log(256.0)) / (dims * np.log(2.0))


def image_dataset(pixels: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, alpha: float = ALPHA,
                  one_hot: bool = False) -> tf.data.Dataset:
    """A `tf.data.Dataset` of (y [batch, D] float32, labels) for one epoch of training:
    rows shuffled with `seed`, each image dequantised afresh (stateless noise seeded by
    (seed, row)), logit-transformed as `logit_preprocess`."""
    pixels = np.asarray(pixels, np.uint8).reshape(len(pixels), -1)
    labels = np.asarray(labels, np.int64)
    rows = tf.data.Dataset.from_tensor_slices((np.arange(len(pixels)), pixels, labels))
    rows = rows.shuffle(len(pixels), seed=seed, reshuffle_each_iteration=False)

    def prepare(row, image, label):
        u = tf.random.stateless_uniform(tf.shape(image), seed=tf.stack([tf.cast(seed, tf.int64), row]),
                                        dtype=tf.float64)
        s = alpha + (1 - 2 * alpha) * (tf.cast(image, tf.float64) + u) / 256.0
        y = tf.cast(tf.math.log(s) - tf.math.log1p(-s), tf.float32)
        return y, (tf.one_hot(label, 10) if one_hot else label)

    return rows.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _content_sha256(path: Path) -> str:
    return hashlib.sha256(_raw_bytes(path)).hexdigest()


def download_fashion_mnist(folder: Union[str, Path], base_url: str = FASHION_MNIST_URL, progress: bool = True,
                           files: Optional[Dict[str, Tuple[str, str]]] = None) -> Path:
    """The four upstream files into `folder` (streamed, resumable, atomic:
    `tfp_flows.datasets.download`), each verified by the sha256 of its decompressed
    contents; a file that does not match is removed. Returns `folder`. (`files`: name ->
    (shape, content sha256), default `FASHION_MNIST`; tests serve their own.)

    Raises:
      DownloadError / ValueError: one line naming the URL or file.
    """
    folder = Path(folder)
    for name, (_, content_sha) in (files or FASHION_MNIST).items():
        dest = folder / name
        if dest.exists() and _content_sha256(dest) == content_sha:
            continue
        download(base_url + name, dest, sha256=None, checksum_file=folder / f"{name}.sha256", progress=progress)
        if _content_sha256(dest) != content_sha:
            dest.unlink()
            (folder / f"{name}.sha256").unlink(missing_ok=True)
            raise DownloadError(f"{base_url + name}: its contents are not Fashion-MNIST's (sha256 mismatch); removed")
    return folder
