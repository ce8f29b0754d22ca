import os
import time

from tfp_flows.files import content_identity


def test_a_folder_edited_in_place_with_its_times_restored_has_a_new_identity(tmp_path):
    (tmp_path / "word").mkdir()
    clip = tmp_path / "word" / "a.wav"
    clip.write_bytes(b"RIFF" + bytes(40))
    (tmp_path / "word" / "b.wav").write_bytes(b"RIFF" + bytes(8))
    before = content_identity(tmp_path)
    assert before == content_identity(tmp_path) and before["files"] == 2
    st = clip.stat()
    time.sleep(0.05)
    clip.write_bytes(b"RIFF" + bytes(39) + b"x")  # same size, other bytes
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))  # the modification time put back
    assert clip.stat().st_mtime_ns == st.st_mtime_ns and clip.stat().st_size == st.st_size
    assert content_identity(tmp_path) != before


def test_a_file_is_known_by_its_bytes(tmp_path):
    f = tmp_path / "gas.txt"
    f.write_text("1 2 3\n")
    first = content_identity(f)
    f.write_text("1 2 4\n")
    assert content_identity(f)["sha256"] != first["sha256"]
    assert content_identity(tmp_path / "missing") is None


def test_a_listing_changes_with_any_file_size_even_where_times_say_nothing(tmp_path, monkeypatch):
    """Where a file system keeps coarse or no change times (some network and FAT mounts), a
    file that grew is still seen: its size is part of the listing's hash."""
    from tfp_flows import files

    (tmp_path / "a.wav").write_bytes(b"12345")
    real_stat = os.stat

    def stat_with(size):
        def fake(path, *args, **kwargs):
            st = real_stat(path, *args, **kwargs)
            fields = list(st)
            fields[6] = size  # st_size; the times stay as they are
            return os.stat_result(fields, {"st_mtime_ns": 1, "st_ctime_ns": 2, "st_atime_ns": 3})
        return fake

    monkeypatch.setattr(files.os, "stat", stat_with(5))
    before = files.listing_sha256(tmp_path, ["a.wav"])
    monkeypatch.setattr(files.os, "stat", stat_with(6))
    assert files.listing_sha256(tmp_path, ["a.wav"]) != before
