"""Shared fixtures: seeding, loading reproduction scripts, a small speech folder, small
IDX image files, a local HTTP server for download tests, a flow moved off its initial
values."""

import gzip
import hashlib
import http.server
import importlib.util
import os
import struct
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
REPRODUCTIONS = ROOT / "reproductions"


@pytest.fixture
def rng():
    """A seeded NumPy generator, with TensorFlow's global seed set too."""
    import tensorflow as tf

    tf.random.set_seed(1234)
    return np.random.default_rng(1234)


def perturbed(make, seed=0, scale=0.3):
    """`make(seed)`, a flow, moved away from its initial values (several start at the
    identity). Keras applies a variable's constraint after every optimizer update (the
    MADE masks, batch norm's positive gamma are constraints), so it is applied here too."""
    import numpy as np

    flow = make(seed)
    rng = np.random.default_rng(seed + 100)
    for v in flow.trainable_variables:
        v.assign(v + scale * rng.normal(size=v.shape).astype(v.dtype.as_numpy_dtype))
        if getattr(v, "constraint", None) is not None:
            v.assign(v.constraint(v))
    return flow


def idx_bytes(array, code=0x08):
    array = np.asarray(array)
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(dtype).tobytes()


def write_idx(path, array, compress=True, code=0x08):
    data = idx_bytes(array, code)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_set(folder, n_train=12, n_test=6, seed=0, compress=True):
    """Four Fashion-MNIST-named files with the real shapes but few images (the shapes in
    `files` are adjusted to match)."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test)}
    files = {}
    for name, array in arrays.items():
        path = write_idx(folder / (name if compress else name[:-3]), array, compress)
        files[name] = (array.shape, hashlib.sha256(idx_bytes(array)).hexdigest())
        assert path.exists()
    return arrays, files


def load_script(name):
    """Import reproductions/<name>.py as a module (scripts are not a package)."""
    path = REPRODUCTIONS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"repro_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def script():
    return load_script


def write_wav(path, samples, rate=16_000, width=2, channels=1, floating=False):
    """A WAV of `samples` in [-1, 1]: integer PCM of `width` bytes (1, 2, 3 or 4), or
    32-bit IEEE float (format code 3, written by hand: `wave` writes only PCM)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.clip(np.asarray(samples, np.float64).reshape(-1, channels), -1, 1)
    if floating:
        data = x.astype("<f4").tobytes()
        fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * channels * 4, channels * 4, 32)
        path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                         + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
        return path
    if width == 1:
        data = (x * 127 + 128).astype(np.uint8).tobytes()
    else:
        ints = np.round(x * (2 ** (8 * width - 1) - 1)).astype("<i4")
        data = (ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes() if width == 3
                else ints.astype("<i2" if width == 2 else "<i4").tobytes())
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return path


@pytest.fixture
def fake_root(tmp_path):
    """A small Speech-Commands-shaped folder of synthesised tones."""
    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    for w, f in (("zero", 300), ("one", 500), ("two", 900)):
        for k in range(6):
            write_wav(tmp_path / w / f"{k:08x}_nohash_0.wav",
                       0.3 * np.sin(2 * np.pi * (f + 10 * k) * t) + 0.01 * rng.normal(size=t.size))
    (tmp_path / "_background_noise_").mkdir()
    write_wav(tmp_path / "_background_noise_" / "noise.wav", rng.normal(size=16_000) * 0.1)
    (tmp_path / "validation_list.txt").write_text("zero/00000000_nohash_0.wav\none/00000000_nohash_0.wav\n")
    (tmp_path / "testing_list.txt").write_text("zero/00000001_nohash_0.wav\nzero/00000002_nohash_0.wav\n")
    return tmp_path


# The audio tests' tone: half a second of 440 Hz at 22,050 Hz, amplitude 0.5. MP3 and Ogg
# Vorbis of it were made once and committed (how: tests/fixtures/audio/make_fixtures.py),
# so that testing the decoders needs no encoder on the machine.
AUDIO_RATE, AUDIO_TONE = 22_050, 440.0
LOSSY = ROOT / "tests" / "fixtures" / "audio"


def tone(seconds=0.5):
    t = np.arange(int(AUDIO_RATE * seconds)) / AUDIO_RATE
    return 0.5 * np.sin(2 * np.pi * AUDIO_TONE * t)


def audio_files(folder):
    """The tone in every supported format: WAV (8/16/24/32-bit stereo, float mono) and FLAC
    (16/24-bit, written by soundfile on either stack) here, MP3 and Ogg from the fixtures."""
    import soundfile

    x = tone()
    stereo = np.stack([x, x], 1)
    files = {f"wav{8 * w}": write_wav(folder / f"w{w}.wav", stereo, rate=AUDIO_RATE, width=w, channels=2)
             for w in (1, 2, 3, 4)}
    files["wavfloat"] = write_wav(folder / "f.wav", x, rate=AUDIO_RATE, floating=True)
    for bits in (16, 24):
        files[f"flac{bits}"] = folder / f"clip{bits}.flac"
        soundfile.write(files[f"flac{bits}"], x, AUDIO_RATE, subtype=f"PCM_{bits}")
    files["mp3"], files["ogg"] = LOSSY / "tone.mp3", LOSSY / "tone.ogg"
    return files


# `make test` on both stacks: today's stack leaves out the tests listed here (see the file).
SUBSET_FILE = Path(__file__).resolve().parent / "not_on_todays_stack.txt"


def subset_ids(path=SUBSET_FILE):
    """The node ids listed in `path` (comments and blank lines dropped)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TFP_FLOWS_SUBSET") != "current":
        return
    left_out = set(subset_ids())
    kept = [item for item in items if item.nodeid not in left_out]
    dropped = [item for item in items if item.nodeid in left_out]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


class FixtureServer(http.server.BaseHTTPRequestHandler):
    """A local HTTP server on 127.0.0.1 for download tests: serves `files`, honours Range
    requests, and can drop a connection after `cut_after[path]` bytes (once)."""

    files = {}          # path -> bytes
    cut_after = {}      # path -> bytes to send before dropping the connection (once)
    ranges_seen = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            self.ranges_seen.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = self.cut_after.pop(self.path, None)
        payload = body[start:] if cut is None else body[start:start + cut]
        self.wfile.write(payload)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FixtureServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    FixtureServer.files, FixtureServer.cut_after, FixtureServer.ranges_seen = {}, {}, []
    yield f"http://127.0.0.1:{httpd.server_address[1]}", FixtureServer
    httpd.shutdown()
    httpd.server_close()
