"""atomic_path and require_file: outputs appear whole or not at all; missing inputs are named."""

from __future__ import annotations

import os
import stat

import pytest

from satcluster.errors import InputError
from satcluster.io import atomic_path, require_file


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
