"""Writing files so that an interrupted run never leaves a half-written one, and telling
whether a data file or folder is the same as before (by content)."""

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "content_identity", "ensure_writable_dir", "file_sha256", "listing_sha256", "read_json",
           "remember_sha256", "remembered_sha256", "write_json_atomic", "HASH_MEMO"]

# Where `content_identity` remembers file hashes (relative to the working directory, like
# data/ itself).
HASH_MEMO = Path("data") / "cache" / "sha256.json"

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


def read_json(path):
    """The JSON object at `path`, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


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


def _stamp(st):
    """What must be unchanged for a remembered hash to stand. The change time (ctime) is
    set by the system on every write and on every mtime change, so an in-place edit that
    keeps the size and restores the mtime still shows."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def remembered_sha256(path, memo):
    """The sha256 that JSON file `memo` holds for `path`, if the file is unchanged since; else None."""
    path = Path(path)
    try:
        hit = json.loads(Path(memo).read_text()).get(str(path.resolve()))
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(hit, dict) and {k: hit.get(k) for k in ("size", "mtime_ns", "ctime_ns", "inode")} == _stamp(
            path.stat()):
        return hit.get("sha256")
    return None


def remember_sha256(path, memo, digest):
    """Record `digest` as the sha256 of `path` (as it is now) in JSON file `memo`."""
    path, memo = Path(path), Path(memo)
    try:
        table = json.loads(memo.read_text())
        table = table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        table = {}
    table[str(path.resolve())] = {**_stamp(path.stat()), "sha256": digest}
    write_json_atomic(memo, table)


def file_sha256(path, memo=None, chunk=1 << 22):
    """The sha256 of a file's bytes, remembered in `memo` (a JSON file; None: not remembered)."""
    digest = remembered_sha256(path, memo) if memo is not None else None
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
        digest = h.hexdigest()
        if memo is not None:
            with contextlib.suppress(OSError):
                remember_sha256(path, memo, digest)
    return digest


def content_identity(path, memo=HASH_MEMO):
    """What identifies a data file or folder (None when missing), so that a run made on other
    data, or on this data after it changed, is not taken for a run on it.

    A file: the sha256 of its bytes (remembered in `memo` while the file is unchanged) and
    its size. A folder (e.g. Speech Commands, tens of thousands of clips): the number of
    files and a sha256 of the sorted list of their relative paths, sizes, modification and
    change times; hashing every clip's bytes would cost more than the run it guards. A
    clip edited in place is still seen: its change time moves whatever its mtime says.
    """
    path = Path(path)
    if not path.exists():
        return None
    if path.is_file():
        return {"sha256": file_sha256(path, memo), "size": path.stat().st_size}
    files = sorted(q.relative_to(path).as_posix() for q in path.rglob("*") if q.is_file())
    return {"files": len(files), "listing_sha256": listing_sha256(path, files)}


def listing_sha256(root, paths, prefix=""):
    """A sha256 of the files `paths` (relative to `root`) as they are now: each one's path,
    size, modification and change time ("missing" when absent), after `prefix`. Cheap
    (no file is read); the change time shows an edit whatever the mtime says."""
    h = hashlib.sha256(prefix.encode())
    for p in paths:
        try:
            st = os.stat(Path(root) / p)
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()
