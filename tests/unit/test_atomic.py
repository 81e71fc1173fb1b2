"""atomic_write: readers see the old file or the whole new one, with the permissions a user expects."""

import os
import stat

import pytest

from alignterm.atomic import atomic_write


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_overwriting_keeps_the_files_permissions(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text("old")
    path.chmod(0o640)
    with atomic_write(path) as f:
        f.write("new")
    assert path.read_text() == "new" and mode(path) == 0o640


def test_a_new_file_gets_the_umasks_permissions_not_0600(tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "session.yaml") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "session.yaml") == 0o640


def test_a_failed_write_leaves_the_old_file_whole_and_no_temp_file(tmp_path):
    path = tmp_path / "session.yaml"
    path.write_text("whole")
    with pytest.raises(RuntimeError), atomic_write(path) as f:
        f.write("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["session.yaml"]


def test_the_folder_is_synced_after_the_rename(tmp_path, monkeypatch):
    opened, synced = {}, []
    real_open, real_fsync = os.open, os.fsync

    def recording_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        opened[fd] = str(path)
        return fd

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(opened.get(fd)), real_fsync(fd)))
    with atomic_write(tmp_path / "a.txt") as f:
        f.write("x")
    assert str(tmp_path) in synced
