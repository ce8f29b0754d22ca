"""Shared fixtures: seeding, loading reproduction scripts, the shared speech sample."""

import importlib.util
import os
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
