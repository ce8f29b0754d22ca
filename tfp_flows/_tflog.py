"""TensorFlow's C++ start-up lines, kept off the user's terminal on every TensorFlow version.

Up to TF 2.16, `TF_CPP_MIN_LOG_LEVEL=3` silences the C++ notices printed while TensorFlow
loads (oneDNN, CUDA stubs, CPU features). From TF 2.18 those are written through absl
before absl's logging is initialised, when no variable is read yet: TF 2.21 prints seven
such lines on every import, whatever `TF_CPP_MIN_LOG_LEVEL`, `ABSL_MIN_LOG_LEVEL` or
`GLOG_minloglevel` say (checked 2026-12-04). A command's one-line error would then be
eight lines.

`quiet_tensorflow_import()` puts a finder on `sys.meta_path` that, the first time
`tensorflow` is imported (by whichever module), runs its import with file descriptor 2
sent to a temporary file, then writes back everything except the absl lines below the
severity that `TF_CPP_MIN_LOG_LEVEL` asks to hide (0: hide nothing, 1: info, 2: and
warnings, 3: and errors) and absl's "before InitializeLog" banner. Anything else written
to stderr during the import (a Python warning, a fatal error) still reaches it. Without
TensorFlow, or once it is imported, the finder does nothing.
"""

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ["filter_startup_lines", "quiet_tensorflow_import", "use_xla_cache"]

# absl's prefix: severity letter, MMDD, time, thread id, file:line]
_ABSL = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\] ")
_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# The continuation line of cpu_feature_guard's notice (its first line carries the prefix).
_CONTINUATION = re.compile(r"^To enable the following instructions: .*rebuild TensorFlow")
_RANK = {"I": 0, "W": 1, "E": 2, "F": 4}


def _level():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def filter_startup_lines(text, level=None):
    """`text` without absl's lines below `level` (default: `TF_CPP_MIN_LOG_LEVEL`), its
    banner and cpu_feature_guard's continuation line when those are hidden.

    >>> filter_startup_lines("I0000 00:00:17.1  26 port.cc:153] oneDNN on\\nkept\\n", level=3)
    'kept\\n'
    >>> filter_startup_lines("I0000 00:00:17.1  26 port.cc:153] oneDNN on\\n", level=0)
    'I0000 00:00:17.1  26 port.cc:153] oneDNN on\\n'
    """
    level = _level() if level is None else level
    if level <= 0:
        return text
    kept = []
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\n")
        match = _ABSL.match(bare)
        if match and _RANK[match.group(1)] < level:
            continue
        if bare == _BANNER or _CONTINUATION.match(bare):
            continue
        kept.append(line)
    return "".join(kept)


class _FilteredLoader(importlib.abc.Loader):
    """Delegates to TensorFlow's own loader; its `exec_module` runs with fd 2 captured."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_data, is_package, resource readers: the real loader's
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader  # the module keeps its own loader
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no real stderr (embedded, closed): nothing to filter
            return self._loader.exec_module(module)
        with tempfile.TemporaryFile(mode="w+b") as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self._loader.exec_module(module)
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                rest = filter_startup_lines(captured.read().decode("utf-8", "replace"))
                if rest:
                    sys.stderr.write(rest)
                    sys.stderr.flush()


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()  # once only, and so that find_spec below does not come back here
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _FilteredLoader(spec.loader)
        return spec


def uninstall():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlow)]


def quiet_tensorflow_import():
    """Filter TensorFlow's start-up lines from stderr when it is first imported (no-op when
    TensorFlow is already imported or `TF_CPP_MIN_LOG_LEVEL` is 0)."""
    if "tensorflow" in sys.modules or _level() <= 0:
        return
    if not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())


XLA_CACHE_VARIABLE = "TFP_FLOWS_XLA_CACHE"
_XLA_FLAG = "--tf_xla_persistent_cache_directory"


def use_xla_cache(folder=None):
    """Keep XLA's compiled programs in `folder` (default: `$TFP_FLOWS_XLA_CACHE`; nothing
    when neither is set) through TensorFlow's persistent compilation cache, so a later run
    of the same model (another seed, another word of a speech table) loads P2's loop
    instead of compiling it again. Adds the flag to `TF_XLA_FLAGS`, which TensorFlow reads
    at its first compilation; a flag already there wins. Returns the folder in use or None.

    On TF 2.16 every hit also prints "[libprotobuf ERROR ...] Error parsing text-format
    tensorflow.XlaSerializedCacheEntry": that TensorFlow tries the text format before
    the binary one the cache is written in, and the entry is used all the same (TF 2.21
    reads the binary form first and prints nothing).
    """
    folder = folder or os.environ.get(XLA_CACHE_VARIABLE)
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if _XLA_FLAG in flags:
        return flags.split(_XLA_FLAG + "=", 1)[-1].split()[0] if _XLA_FLAG + "=" in flags else None
    if not folder:
        return None
    os.makedirs(folder, exist_ok=True)
    os.environ["TF_XLA_FLAGS"] = f"{flags} {_XLA_FLAG}={os.path.abspath(folder)}".strip()
    return os.path.abspath(folder)
