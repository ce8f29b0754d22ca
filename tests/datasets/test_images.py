"""Images: the IDX reader on small generated files (every way a file can be wrong is one
line), the MAF paper's preprocessing and its change of variables to bits per pixel, the
tf.data pipeline, the download against a local server, and the real Fashion-MNIST files
when `../shared/data/fashion_mnist` is there (skipped with a printed reason otherwise)."""

import gzip
import hashlib

import numpy as np
import pytest

from conftest import ROOT, fake_set, idx_bytes, write_idx
from tfp_flows.datasets.download import DownloadError
from tfp_flows.datasets.images import (ALPHA, FASHION_MNIST, bits_per_pixel, download_fashion_mnist, image_dataset,
                                       load_fashion_mnist, logit_preprocess, pixel_log_det, read_idx,
                                       split_validation)

SHARED = ROOT.parent / "shared" / "data" / "fashion_mnist"


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("code", [0x08, 0x0B, 0x0D])
def test_idx_round_trip_of_every_shape_and_type(tmp_path, compress, code):
    rng = np.random.default_rng(code)
    for shape in [(7,), (3, 4), (2, 5, 6)]:
        array = rng.integers(0, 120, shape)
        got = read_idx(write_idx(tmp_path / "a.idx", array, compress, code))
        np.testing.assert_array_equal(got, array)
        assert got.shape == shape and got.dtype.isnative


@pytest.mark.parametrize("mangle, fragment", [
    (lambda b: b[:-5], "truncated: shape 3x4x4 needs 48 bytes of data, found 43"),
    (lambda b: b + b"\x00", "longer than its header says"),
    (lambda b: b"\x01\x02" + b[2:], "not an IDX file"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX type code 0x07"),
    (lambda b: b[:10], "IDX header of 3 dimensions is cut short"),
    (lambda b: b"", "not an IDX file (its first bytes are missing)"),
    # what the file looks like instead, when it says
    (lambda b: gzip.compress(gzip.compress(b)), "gzip inside gzip: compressed twice?"),
    (lambda b: b"PK\x03\x04" + b, "a zip archive: unzip it first"),
    (lambda b: b"<html><body>404</body></html>", "text or HTML: a web page saved in its place?"),
    # a header whose counts multiply past 64 bits: Python's integers, not an overflow
    (lambda b: b"\x00\x00\x08\x04" + b"\xff" * 16 + b"\x00" * 8,
     "truncated: shape 4294967295x4294967295x4294967295x4294967295 needs 3402823666040258135169977214826698506"),
])
def test_a_bad_idx_file_is_one_line_naming_it(tmp_path, mangle, fragment):
    path = tmp_path / "bad.idx"
    path.write_bytes(mangle(idx_bytes(np.zeros((3, 4, 4), np.uint8))))
    with pytest.raises(ValueError) as err:
        read_idx(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and fragment in message


def test_a_damaged_gzip_is_one_line(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((30, 30), np.uint8)))[:-12])
    with pytest.raises(ValueError, match="damaged or truncated gzip"):
        read_idx(path)


def test_load_fashion_mnist_checks_shapes_labels_and_names(tmp_path, monkeypatch):
    import tfp_flows.datasets.images as images

    arrays, files = fake_set(tmp_path)
    monkeypatch.setattr(images, "FASHION_MNIST", files)
    data = load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(data.train_images, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte.gz"])
    # labels where images belong: a mislabelled file
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: shape 12, expected images of shape 12x28x28"):
        load_fashion_mnist(tmp_path)
    fake_set(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 4, 12]))
    with pytest.raises(ValueError, match="label 12 outside the 10 classes"):
        load_fashion_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="no t10k-labels-idx1-ubyte.gz .*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(ValueError, match="missing: no such folder"):
        load_fashion_mnist(tmp_path / "missing")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: not a folder"):
        load_fashion_mnist(tmp_path / "train-images-idx3-ubyte.gz")


def test_uncompressed_files_are_found_too(tmp_path, monkeypatch):
    import tfp_flows.datasets.images as images

    arrays, files = fake_set(tmp_path, compress=False)
    monkeypatch.setattr(images, "FASHION_MNIST", files)
    np.testing.assert_array_equal(load_fashion_mnist(tmp_path).train_labels, arrays["train-labels-idx1-ubyte.gz"])


def test_mnists_dotted_names_are_read_and_a_folder_in_a_files_place_is_one_line(tmp_path, monkeypatch):
    import tfp_flows.datasets.images as images

    arrays, files = fake_set(tmp_path)
    monkeypatch.setattr(images, "FASHION_MNIST", files)
    for name in files:  # train-images-idx3-ubyte.gz -> train-images.idx3-ubyte.gz
        (tmp_path / name).rename(tmp_path / name.replace("-idx", ".idx"))
    np.testing.assert_array_equal(load_fashion_mnist(tmp_path).test_images, arrays["t10k-images-idx3-ubyte.gz"])
    (tmp_path / "train-images.idx3-ubyte.gz").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").mkdir()
    with pytest.raises(ValueError) as err:
        load_fashion_mnist(tmp_path)
    assert str(err.value) == f"{tmp_path / 'train-images-idx3-ubyte.gz'}: a folder, not an IDX file"


def test_the_papers_preprocessing_dequantises_into_each_pixels_own_bin():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (50, 784))
    y, x = logit_preprocess(pixels, rng)
    assert np.all(np.floor(x * 256) == pixels)  # the noise stays inside the pixel's bin
    s = 1 / (1 + np.exp(-y))
    np.testing.assert_allclose((s - ALPHA) / (1 - 2 * ALPHA), x, rtol=0, atol=1e-12)
    assert np.isfinite(logit_preprocess(np.array([[0, 255]]), None)[0]).all()
    assert abs(logit_preprocess(np.array([[0]]), None)[0][0, 0] - np.log(0.5 / 256)) < 1e-2


def test_pixel_log_det_is_the_log_derivative_of_the_transform():
    x = np.random.default_rng(1).random((4, 6)) * 0.999 + 0.0005
    eps = 1e-7

    def forward(v):
        s = ALPHA + (1 - 2 * ALPHA) * v
        return np.log(s) - np.log1p(-s)

    numeric = np.log((forward(x + eps) - forward(x - eps)) / (2 * eps)).sum(-1)
    np.testing.assert_allclose(pixel_log_det(forward(x)), numeric, rtol=1e-6)


def test_bits_per_pixel_of_the_uniform_density_is_eight_and_falls_with_a_better_one():
    # p_x = 1 on [0, 1)^D (every 8-bit pixel equally likely) is 8 bits per pixel.
    y, _ = logit_preprocess(np.random.default_rng(2).integers(0, 256, (10, 784)), np.random.default_rng(3))
    uniform = -pixel_log_det(y)  # log p_y of the uniform x
    np.testing.assert_allclose(bits_per_pixel(uniform, y), 8.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(bits_per_pixel(uniform + 784 * np.log(2), y), 7.0, atol=1e-9)  # twice as likely per pixel


def test_the_pipeline_is_seeded_dequantises_afresh_and_matches_the_numpy_recipe():
    pixels = np.random.default_rng(4).integers(0, 256, (40, 28, 28)).astype(np.uint8)
    labels = np.arange(40) % 10

    def epoch(seed):
        batches = list(image_dataset(pixels, labels, 16, seed).as_numpy_iterator())
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])

    (y1, l1), (y1_again, _), (y2, _) = epoch(0), epoch(0), epoch(1)
    np.testing.assert_array_equal(y1, y1_again)
    assert y1.shape == (40, 784) and sorted(l1.tolist()) == sorted(labels.tolist())
    assert np.abs(np.sort(y1, 0) - np.sort(y2, 0)).max() > 0  # other noise under another seed
    # Undo the logit: each row is an image of the set plus noise inside each pixel's bin
    # (up to float32's rounding of y), and comes with that image's label.
    s = 1 / (1 + np.exp(-y1.astype(np.float64)))
    value = (s - ALPHA) / (1 - 2 * ALPHA) * 256
    flat = pixels.reshape(40, -1).astype(np.float64)
    order = [int(np.argmin(np.abs(flat + 0.5 - v).max(1))) for v in value]
    assert len(set(order)) == 40 and all(labels[o] == lab for o, lab in zip(order, l1))
    offsets = value - flat[order]
    assert offsets.min() > -1e-3 and offsets.max() < 1 + 1e-3
    one_hot = next(image_dataset(pixels, labels, 8, 0, one_hot=True).as_numpy_iterator())[1]
    assert one_hot.shape == (8, 10) and np.all(one_hot.sum(1) == 1)


def test_split_validation_keeps_the_last_tenth():
    train, val = split_validation(60_000)
    assert len(train) == 54_000 and val[0] == 54_000 and val[-1] == 59_999


def test_download_verifies_decompressed_contents(server, tmp_path):
    url, handler = server
    source = tmp_path / "served"
    source.mkdir()
    _, files = fake_set(source)
    handler.files = {f"/fm/{name}": (source / name).read_bytes() for name in files}
    out = download_fashion_mnist(tmp_path / "got", base_url=url + "/fm/", progress=False, files=files)
    for name in files:
        assert (out / name).read_bytes() == (source / name).read_bytes()
    # A file whose contents are not the dataset's is refused and removed.
    bad = dict(files)
    name = "t10k-labels-idx1-ubyte.gz"
    bad[name] = (files[name][0], "0" * 64)
    with pytest.raises(DownloadError, match="not Fashion-MNIST's"):
        download_fashion_mnist(tmp_path / "other", base_url=url + "/fm/", progress=False, files=bad)
    assert not (tmp_path / "other" / name).exists()


def test_the_real_fashion_mnist_files():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (the shared Fashion-MNIST files)")
    data = load_fashion_mnist(SHARED)
    assert data.train_images.shape == (60_000, 28, 28) and data.test_images.shape == (10_000, 28, 28)
    assert np.all(np.bincount(data.train_labels) == 6000) and np.all(np.bincount(data.test_labels) == 1000)
    for name, (_, sha) in FASHION_MNIST.items():
        assert hashlib.sha256(gzip.decompress((SHARED / name).read_bytes())).hexdigest() == sha
    y, _ = logit_preprocess(data.test_images[:100].reshape(100, -1), np.random.default_rng(0))
    bpp = bits_per_pixel(-pixel_log_det(y), y)
    np.testing.assert_allclose(bpp, 8.0, atol=1e-9)
