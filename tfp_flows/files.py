"""Writing files so that an interrupted run never leaves a half-written one."""

import contextlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "write_json_atomic", "ensure_writable_dir"]

# The process's umask, read once (reading it means setting it, so not on every write).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success move it over `path` in one step.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path, obj) -> Path:
    """Write `obj` as indented JSON to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return Path(path)


def ensure_writable_dir(path) -> Path:
    """Create `path` (and parents) if needed and check a file can be written there.

    Raises:
      ValueError: naming the folder, when it cannot be created or written to.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise ValueError(f"output folder {str(path)!r} is not writable: {reason}") from None
    return path
