"""Downloading data sets: streamed, resumable, sha256-verified, written atomically.

`download(url, dest, sha256=...)` writes to ``dest + ".part"`` and asks the server for
the remaining bytes (an HTTP Range request) when a partial file is already there, so
an interrupted download continues where it stopped. Only a file whose sha256 matches
is moved to `dest`, in one `os.replace`; a mismatch deletes the partial file.

When the published checksum of a file is not known, pass ``sha256=None`` and a
``checksum_file``: the first complete download records its hash there ("trust on
first use") and every later download is verified against it.
"""

import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional, Union

from tqdm.auto import tqdm

from tfp_flows.files import atomic_path

__all__ = ["download", "sha256_of", "extract_member", "DownloadError"]

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download that could not be completed or verified; the message is one line."""


def sha256_of(path: Union[str, Path], chunk: int = _CHUNK) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _expected_hash(sha256, checksum_file):
    if sha256:
        return sha256.lower()
    if checksum_file and Path(checksum_file).exists():
        text = Path(checksum_file).read_text().split()
        return text[0].lower() if text else None
    return None


def download(url: str, dest: Union[str, Path], sha256: Optional[str] = None, checksum_file: Optional[Union[str, Path]] = None,
             progress: bool = True, timeout: float = 60) -> Path:
    """Fetch `url` to `dest` unless a verified copy is already there; returns `dest`.

    Args:
      url: http(s) or file URL.
      dest: final path.
      sha256: expected hex digest, or None (then `checksum_file` is used, see above).
      checksum_file: where a trusted-on-first-use digest is kept.
      progress: show a progress bar (bytes) on standard error.
      timeout: seconds to wait for the server before giving up.

    Raises:
      DownloadError: network failure, server error, or checksum mismatch (one line,
        naming the URL or the file); the partial file is kept on a network failure,
        so calling again resumes, and removed on a checksum mismatch.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = _expected_hash(sha256, checksum_file)
    if dest.exists():
        if expected is None or sha256_of(dest) == expected:
            return dest
        raise DownloadError(
            f"{dest} exists but its sha256 does not match {expected}; delete it to download again")

    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "tfp-flows"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            raise DownloadError(f"{url}: server answered {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"{url}: cannot connect ({reason}); no network?") from None

    if response is not None:
        with response:
            status = getattr(response, "status", 200)
            if have and status != 206:  # the server ignored the Range: start again
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length is not None else None
            bar = tqdm(total=total, initial=have, unit="B", unit_scale=True,
                       desc=dest.name, disable=None if progress else True, file=sys.stderr)
            try:
                with open(part, "ab" if have else "wb") as out:
                    while True:
                        try:
                            block = response.read(_CHUNK)
                        except OSError as err:
                            raise DownloadError(
                                f"{url}: connection lost after {out.tell()} bytes ({err}); "
                                "run again to resume") from None
                        if not block:
                            break
                        out.write(block)
                        bar.update(len(block))
            finally:
                bar.close()
            if total is not None and part.stat().st_size < total:
                raise DownloadError(
                    f"{url}: connection closed after {part.stat().st_size} of {total} bytes; "
                    "run again to resume")

    actual = sha256_of(part)
    if expected is not None and actual != expected:
        part.unlink()
        raise DownloadError(f"{url}: sha256 {actual} does not match the expected {expected}")
    if expected is None and checksum_file is not None:
        with atomic_path(checksum_file) as tmp:
            tmp.write_text(f"{actual}  {dest.name}\n")
    os.replace(part, dest)
    return dest


def extract_member(archive: Union[str, Path], member: str, dest: Union[str, Path]) -> Path:
    """Copy one file out of a .zip or .tar(.gz) archive to `dest` atomically.

    `member` may be a bare file name; the first entry whose name ends with it is taken
    (archives often wrap their files in a folder). Returns `dest`.

    Raises:
      ValueError: the archive is not a zip or tar file, or has no such member.
    """
    archive, dest = Path(archive), Path(dest)

    def matches(name):
        return name == member or name.endswith("/" + member)

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if matches(n)]
            if not names:
                raise ValueError(f"{archive}: no member named {member!r}")
            with z.open(names[0]) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            infos = [i for i in t.getmembers() if i.isfile() and matches(i.name)]
            if not infos:
                raise ValueError(f"{archive}: no member named {member!r}")
            with t.extractfile(infos[0]) as src, atomic_path(dest) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
    else:
        raise ValueError(f"{archive}: not a zip or tar archive")
    return dest
