"""The download machinery against a local HTTP server on 127.0.0.1 serving fixture archives."""

import hashlib
import io
import stat
import tarfile
import zipfile

import pytest

from tfp_flows.datasets.download import DownloadError, download, extract_member, sha256_of


def _zip_with(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"wrapper/{name}", data)
    return buf.getvalue()


def test_download_verifies_and_writes_atomically(server, tmp_path):
    url, handler = server
    blob = _zip_with("ethylene_CO.txt", b"header\n1 2 3\n" * 5000)
    handler.files["/gas.zip"] = blob
    dest = download(url + "/gas.zip", tmp_path / "gas.zip", sha256=hashlib.sha256(blob).hexdigest(),
                    progress=False)
    assert dest.read_bytes() == blob
    assert not (tmp_path / "gas.zip.part").exists()
    # Extracted (atomically written) files get the permissions a plain open() gives,
    # not the private 0600 of the temporary file they are written to.
    member = extract_member(dest, "ethylene_CO.txt", tmp_path / "ethylene_CO.txt")
    (tmp_path / "plain").write_bytes(b"")
    assert stat.S_IMODE(member.stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    # A second call finds the verified file and does not download again.
    handler.files.clear()
    assert download(url + "/gas.zip", dest, sha256=sha256_of(dest), progress=False) == dest


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    url, handler = server
    handler.files["/x.zip"] = b"not what was promised"
    with pytest.raises(DownloadError, match="does not match"):
        download(url + "/x.zip", tmp_path / "x.zip", sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    url, handler = server
    blob = bytes(range(256)) * 20_000  # ~5 MB
    handler.files["/big.tar.gz"] = blob
    handler.cut_after["/big.tar.gz"] = 1_500_000
    digest = hashlib.sha256(blob).hexdigest()
    with pytest.raises(DownloadError, match="resume"):
        download(url + "/big.tar.gz", tmp_path / "big.tar.gz", sha256=digest, progress=False)
    part = tmp_path / "big.tar.gz.part"
    assert part.stat().st_size == 1_500_000
    assert not (tmp_path / "big.tar.gz").exists()
    dest = download(url + "/big.tar.gz", tmp_path / "big.tar.gz", sha256=digest, progress=False)
    assert handler.ranges_seen == ["bytes=1500000-"]
    assert dest.read_bytes() == blob and not part.exists()


def test_unknown_checksum_is_recorded_then_enforced(server, tmp_path):
    url, handler = server
    handler.files["/a.zip"] = b"first version"
    record = tmp_path / "a.zip.sha256"
    download(url + "/a.zip", tmp_path / "a.zip", checksum_file=record, progress=False)
    assert record.read_text().split()[0] == hashlib.sha256(b"first version").hexdigest()
    (tmp_path / "a.zip").unlink()
    handler.files["/a.zip"] = b"tampered version"
    with pytest.raises(DownloadError, match="does not match"):
        download(url + "/a.zip", tmp_path / "a.zip", checksum_file=record, progress=False)


def test_server_errors_and_no_network_are_one_line(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="404"):
        download(url + "/missing.zip", tmp_path / "m.zip", progress=False)
    with pytest.raises(DownloadError, match="cannot connect"):
        download("http://127.0.0.1:9/none.zip", tmp_path / "n.zip", progress=False, timeout=5)


def test_extract_member_from_zip_and_tar(tmp_path):
    z = tmp_path / "a.zip"
    z.write_bytes(_zip_with("ethylene_CO.txt", b"abc"))
    assert extract_member(z, "ethylene_CO.txt", tmp_path / "out.txt").read_bytes() == b"abc"
    t = tmp_path / "a.tar.gz"
    with tarfile.open(t, "w:gz") as tar:
        info = tarfile.TarInfo("zero/0a.wav")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"RIF"))
    assert extract_member(t, "0a.wav", tmp_path / "0a.wav").read_bytes() == b"RIF"
    with pytest.raises(ValueError, match="no member"):
        extract_member(z, "nothere.txt", tmp_path / "x")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"plain")
    with pytest.raises(ValueError, match="not a zip or tar"):
        extract_member(bad, "x", tmp_path / "y")
