"""TensorFlow's start-up lines kept off stderr on either stack, and the persistent XLA cache."""

import os
import subprocess
import sys

from conftest import ROOT
from tfp_flows import _tflog


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**{k: v for k, v in os.environ.items() if k not in ("TF_XLA_FLAGS",)}, **env})


def test_importing_tensorflow_after_tfp_flows_prints_nothing():
    proc = _python("import sys, tfp_flows, tensorflow as tf; tf.constant(1.0) + 1; print('ok', file=sys.stderr)",
                   TF_CPP_MIN_LOG_LEVEL="3")
    assert proc.returncode == 0 and proc.stderr == "ok\n", proc.stderr


def test_what_is_not_tensorflows_start_up_chatter_still_reaches_stderr():
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1796395286.044316    2686 port.cc:153] oneDNN custom operations are on.\n"
            "W0000 00:00:1796395286.044316    2686 foo.cc:1] a warning\n"
            "E0000 00:00:1796395286.044316    2686 foo.cc:2] an error\n"
            "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the flags.\n"
            "a Python warning\n")
    assert _tflog.filter_startup_lines(text, level=3) == "a Python warning\n"
    assert _tflog.filter_startup_lines(text, level=2).splitlines() == [
        "E0000 00:00:1796395286.044316    2686 foo.cc:2] an error", "a Python warning"]
    assert _tflog.filter_startup_lines(text, level=0) == text


def test_the_xla_cache_keeps_a_compilation_for_the_next_process(tmp_path):
    code = ("import tfp_flows, tensorflow as tf\n"
            "f = tf.function(lambda x: tf.tanh(x) * 2, jit_compile=True)\n"
            "print(float(f(tf.ones([3]))[0]))\n")
    cache = tmp_path / "xla"
    first = _python(code, TFP_FLOWS_XLA_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    assert first.returncode == 0, first.stderr
    entries = sorted(p.name for p in cache.iterdir())
    assert entries and all(e.endswith(".pb") for e in entries)
    second = _python(code, TFP_FLOWS_XLA_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    assert second.returncode == 0 and second.stdout == first.stdout
    assert sorted(p.name for p in cache.iterdir()) == entries  # read, not compiled again
    assert _python(code, TF_CPP_MIN_LOG_LEVEL="3").returncode == 0  # no variable: no cache, nothing written
    assert sorted(p.name for p in cache.iterdir()) == entries


def test_a_flag_already_in_tf_xla_flags_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_XLA_FLAGS", f"--tf_xla_persistent_cache_directory={tmp_path / 'mine'}")
    assert _tflog.use_xla_cache(str(tmp_path / "other")) == str(tmp_path / "mine")
    assert not (tmp_path / "other").exists()
    monkeypatch.delenv("TF_XLA_FLAGS")
    monkeypatch.delenv("TFP_FLOWS_XLA_CACHE", raising=False)
    assert _tflog.use_xla_cache(None) is None and "TF_XLA_FLAGS" not in os.environ
    assert _tflog.use_xla_cache(str(tmp_path / "other")) == str(tmp_path / "other")
    assert os.environ["TF_XLA_FLAGS"] == f"--tf_xla_persistent_cache_directory={tmp_path / 'other'}"
