"""atomic_path and require_file: outputs appear whole or not at all; missing inputs are named;
an output the machine refuses (permissions, full disk) is one clear error."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from unittest import mock

import pytest

from satcluster.errors import InputError
from satcluster.io import OutputWriteError, atomic_path, require_file


def test_atomic_path_renames_onto_the_target_on_success(tmp_path):
    target = tmp_path / "table.parquet"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        assert tmp.name.endswith(".parquet")  # writers that go by the suffix still work
        tmp.write_text("written")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_text() == "written"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_replaces_an_existing_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_path_leaves_nothing_on_exception(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_on_exception(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_creates_the_parent(tmp_path):
    target = tmp_path / "results" / "clusters" / "labels.parquet"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"


def test_atomic_path_gives_plain_open_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_require_file_returns_an_existing_path(tmp_path):
    path = tmp_path / "buildings.gpkg"
    path.write_bytes(b"")
    assert require_file(str(path), "building footprints") == path


def test_require_file_names_the_file_and_the_key(tmp_path):
    missing = tmp_path / "roads.osm"
    with pytest.raises(InputError) as err:
        require_file(missing, "OpenStreetMap", key="inputs.roads")
    message = str(err.value)
    assert f"OpenStreetMap file not found: {missing}" in message
    assert "(config key `inputs.roads`)" in message
    assert "demo" in message  # the fix for a user without data


def test_require_file_without_key_and_for_a_folder(tmp_path):
    with pytest.raises(InputError, match=r"imagery file not found: "):
        require_file(tmp_path, "imagery")  # a folder is not a file
    with pytest.raises(InputError) as err:
        require_file(tmp_path / "x.tif", "imagery")
    assert "config key" not in str(err.value)


# --- outputs the machine refuses: permissions, full disk ------------------------------------


def _no_space() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_writing_leaves_nothing_and_says_so(tmp_path):
    target = tmp_path / "results" / "labels.parquet"
    with pytest.raises(OutputWriteError) as err, atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the table")  # what a writer got out before the disk filled
        raise _no_space()
    assert list(target.parent.iterdir()) == []  # no partial file, no temporary file
    assert isinstance(err.value, InputError)  # scripts print it as one line
    assert err.value.paths == [target] and err.value.errno == errno.ENOSPC
    assert str(err.value) == (
        f"cannot write {target}: No space left on device; check that the folder is writable "
        "and the disk is not full (or over quota), then rerun."
    )
    assert isinstance(err.value.__cause__, OSError)  # the system's error stays chained


def test_disk_full_keeps_the_previous_output(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(OutputWriteError), atomic_path(target) as tmp:
        tmp.write_text("ne")
        raise _no_space()
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_disk_full_on_the_rename(tmp_path):
    target = tmp_path / "out.txt"
    with (
        mock.patch("satcluster.io.os.replace", side_effect=_no_space()),
        pytest.raises(OutputWriteError, match=r"cannot write .*out\.txt: No space left"),
        atomic_path(target) as tmp,
    ):
        tmp.write_text("whole")
    assert list(tmp_path.iterdir()) == []


def test_a_real_refused_write_file_size_limit(tmp_path):
    """The kernel refuses the write (RLIMIT_FSIZE, also as root): EFBIG, one clear error."""
    target = tmp_path / "tiles.npy"
    script = f"""
import resource
from satcluster.io import OutputWriteError, atomic_path
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
try:
    with atomic_path({str(target)!r}) as tmp:
        with open(tmp, "wb") as stream:
            stream.write(b"x" * 2**20)
except OutputWriteError as err:
    print(err)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.startswith(f"cannot write {target}: File too large; check that")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_folder_names_the_output(tmp_path):
    # Works as root too: the output's folder is a regular file.
    (tmp_path / "results").write_text("not a folder")
    target = tmp_path / "results" / "figures" / "map.png"
    message = r"cannot write .*results/figures/map\.png: "
    with pytest.raises(OutputWriteError, match=message), atomic_path(target):
        pytest.fail("the block must not run")
    assert (tmp_path / "results").read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_names_the_output(tmp_path):
    folder = tmp_path / "figures"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputWriteError) as err, atomic_path(folder / "map.png"):
            pytest.fail("the block must not run")
    finally:
        folder.chmod(0o755)
    assert str(err.value).startswith(f"cannot write {folder / 'map.png'}: Permission denied;")
    assert list(folder.iterdir()) == []


def test_an_error_reading_an_input_is_not_a_write_error(tmp_path):
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "input.tif"))
    with pytest.raises(PermissionError), atomic_path(tmp_path / "out.txt"):
        raise denied
    assert list(tmp_path.iterdir()) == []


def test_nested_outputs_name_the_file_that_failed_or_every_candidate(tmp_path):
    npy, index = tmp_path / "tiles.npy", tmp_path / "index.parquet"
    with pytest.raises(OutputWriteError) as err, atomic_path(npy) as tmp_npy, atomic_path(index):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_npy))
    assert err.value.paths == [npy]  # the error named the file: that one
    with pytest.raises(OutputWriteError) as err, atomic_path(npy), atomic_path(index):
        raise _no_space()  # a failed write(2) does not say which file
    assert err.value.paths == [npy, index]
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_hides_the_errno_on_a_full_disk(tmp_path):
    """torch.save raises RuntimeError when the disk fills: the free space tells."""
    full = os.statvfs_result((4096, 4096, 1000, 0, 0, 100, 0, 0, 0, 255))
    with (
        mock.patch("satcluster.io.os.statvfs", return_value=full),
        pytest.raises(OutputWriteError, match=r"no space left on the disk \(file write failed\)"),
        atomic_path(tmp_path / "model.pt"),
    ):
        raise RuntimeError("file write failed")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "model.pt"):
        raise RuntimeError("a bug, with space left")  # not a write error: unchanged
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "tiles.npy"
    other = tmp_path / ".other.npy.abcdefgh.tmp.npy"  # another output's: not touched
    other.write_bytes(b"x")
    killed_writer = f"""
import os, signal
from satcluster.io import atomic_path
with atomic_path({str(target)!r}) as tmp:
    tmp.write_bytes(b"half")
    os.kill(os.getpid(), signal.SIGKILL)  # no clean-up runs, as on a node failure
"""
    result = subprocess.run([sys.executable, "-c", killed_writer], timeout=60, check=False)
    assert result.returncode == -signal.SIGKILL
    (leftover,) = [p for p in tmp_path.iterdir() if p != other]
    assert leftover.name.startswith(".tiles.npy.") and leftover.read_bytes() == b"half"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(tmp_path.iterdir()) == sorted([target, other])
    assert target.read_bytes() == b"whole"
