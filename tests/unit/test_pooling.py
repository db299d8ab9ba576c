"""Pooling the cities' tiles into one array, and splitting the pooled results back per city."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from satcluster.errors import InputError
from satcluster.study.pooling import POOLED_INDEX_COLUMNS, city_labels, pool_tiles, split_city

CITIES = ["accra", "lagos", "nairobi"]
COUNTS = {"accra": 3, "lagos": 5, "nairobi": 2}
TILE = (8, 8, 3)
DIM = 6


def files(folder: Path) -> set[str]:
    """Every file under folder (hidden temporaries included), relative."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def write_tiles(folder: Path, seed: int = 0, tile=TILE) -> dict[str, np.ndarray]:
    """Random uint8 tiles of each city, saved as <city>.npy; city -> array."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for city in CITIES:
        arrays[city] = rng.integers(0, 256, size=(COUNTS[city], *tile), dtype=np.uint8)
        np.save(folder / f"{city}.npy", arrays[city])
    return arrays


@pytest.fixture
def pooled(tmp_path: Path):
    """Inputs in tmp_path/in, the pooled tiles and index in tmp_path/pooled."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    arrays = write_tiles(inputs)
    out_npy, out_index = tmp_path / "pooled" / "tiles.npy", tmp_path / "pooled" / "index.parquet"
    index = pool_tiles(CITIES, [inputs / f"{c}.npy" for c in CITIES], out_npy, out_index)
    return arrays, index, out_npy, out_index


def write_results(
    folder: Path, n: int, seed: int = 1
) -> tuple[Path, Path, pd.DataFrame, np.ndarray]:
    """Pooled labels (tile_id, k2, k4) and embedding (n x DIM float32) of n pooled tiles."""
    rng = np.random.default_rng(seed)
    labels = pd.DataFrame(
        {
            "tile_id": np.arange(n, dtype=np.int64),
            "k2": rng.integers(0, 2, n),
            "k4": rng.integers(0, 4, n),
        }
    )
    embedding = rng.standard_normal((n, DIM)).astype(np.float32)
    labels_path, embedding_path = folder / "labels.parquet", folder / "embedding.npy"
    labels.to_parquet(labels_path, index=False)
    np.save(embedding_path, embedding)
    return labels_path, embedding_path, labels, embedding


def city_rows(city: str) -> slice:
    start = sum(COUNTS[c] for c in CITIES[: CITIES.index(city)])
    return slice(start, start + COUNTS[city])


# --- pool_tiles ---------------------------------------------------------------------------


def test_pooled_tiles_are_the_cities_tiles_in_order(pooled):
    arrays, _, out_npy, _ = pooled
    result = np.load(out_npy)
    expected = np.concatenate([arrays[c] for c in CITIES])
    assert result.dtype == np.uint8
    assert result.shape == (sum(COUNTS.values()), *TILE)
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(np.load(out_npy, mmap_mode="r"), expected)


def test_pooled_index_maps_rows_to_city_tiles(pooled):
    _, index, _, out_index = pooled
    written = pd.read_parquet(out_index)
    assert list(written.columns) == POOLED_INDEX_COLUMNS == ["tile_id", "city", "city_tile_id"]
    pd.testing.assert_frame_equal(written.reset_index(drop=True), index.reset_index(drop=True))
    n = sum(COUNTS.values())
    assert written["tile_id"].tolist() == list(range(n))
    assert written["city"].tolist() == [c for c in CITIES for _ in range(COUNTS[c])]
    assert written["city_tile_id"].tolist() == [i for c in CITIES for i in range(COUNTS[c])]


def test_pool_follows_the_order_of_cities(tmp_path):
    arrays = write_tiles(tmp_path)
    order = ["nairobi", "accra", "lagos"]
    out_npy, out_index = tmp_path / "p.npy", tmp_path / "p.parquet"
    index = pool_tiles(order, [tmp_path / f"{c}.npy" for c in order], out_npy, out_index)
    np.testing.assert_array_equal(np.load(out_npy), np.concatenate([arrays[c] for c in order]))
    assert index["city"].tolist()[:2] == ["nairobi", "nairobi"]
    assert index["city_tile_id"].tolist()[:3] == [0, 1, 0]


def test_pooling_leaves_no_temporary_files(pooled, tmp_path):
    assert files(tmp_path) == {f"in/{c}.npy" for c in CITIES} | {
        "pooled/tiles.npy",
        "pooled/index.parquet",
    }


def test_tiles_of_different_shapes_are_refused_and_nothing_is_written(tmp_path):
    np.save(tmp_path / "accra.npy", np.zeros((3, 8, 8, 3), np.uint8))
    np.save(tmp_path / "lagos.npy", np.zeros((2, 16, 16, 3), np.uint8))
    before = files(tmp_path)
    out_npy, out_index = tmp_path / "out" / "tiles.npy", tmp_path / "out" / "index.parquet"
    with pytest.raises(InputError) as excinfo:
        pool_tiles(
            ["accra", "lagos"], [tmp_path / "accra.npy", tmp_path / "lagos.npy"], out_npy, out_index
        )
    message = str(excinfo.value)
    assert "accra" in message and "lagos" in message
    assert files(tmp_path) == before
    assert not out_npy.exists() and not out_index.exists()


# --- city_labels --------------------------------------------------------------------------


def test_city_labels_give_each_row_its_city_and_own_tile_id(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, _, labels, _ = write_results(tmp_path, len(index))
    table = city_labels(labels_path, out_index)
    assert list(table.columns) == ["city", "tile_id", "k2", "k4"]
    assert len(table) == len(index)
    assert table["city"].tolist() == index["city"].tolist()
    assert table["tile_id"].tolist() == index["city_tile_id"].tolist()
    np.testing.assert_array_equal(table["k2"], labels["k2"])
    np.testing.assert_array_equal(table["k4"], labels["k4"])


def test_labels_of_fewer_rows_than_the_pool_are_refused(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, *_ = write_results(tmp_path, len(index) - 1)
    with pytest.raises(InputError, match="different rows"):
        city_labels(labels_path, out_index)


def test_labels_of_other_tile_ids_are_refused(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, _, labels, _ = write_results(tmp_path, len(index))
    labels.iloc[::-1].to_parquet(labels_path, index=False)  # same rows, other order
    with pytest.raises(InputError, match="different rows"):
        city_labels(labels_path, out_index)


def test_pooled_index_without_its_columns_is_refused(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, *_ = write_results(tmp_path, len(index))
    index.drop(columns="city_tile_id").to_parquet(out_index, index=False)
    with pytest.raises(InputError, match="city_tile_id"):
        city_labels(labels_path, out_index)


# --- split_city ---------------------------------------------------------------------------


@pytest.mark.parametrize("city", CITIES)
def test_split_city_writes_exactly_that_citys_rows(pooled, tmp_path, city):
    _, index, _, out_index = pooled
    labels_path, embedding_path, labels, embedding = write_results(tmp_path, len(index))
    out_labels = tmp_path / city / "labels.parquet"
    out_embedding = tmp_path / city / "embedding.npy"
    n = split_city(city, labels_path, embedding_path, out_index, out_labels, out_embedding)
    assert n == COUNTS[city]
    mine = pd.read_parquet(out_labels)
    assert list(mine.columns) == ["tile_id", "k2", "k4"]
    assert mine["tile_id"].tolist() == list(range(COUNTS[city]))
    rows = city_rows(city)
    np.testing.assert_array_equal(mine["k2"], labels["k2"].iloc[rows])
    np.testing.assert_array_equal(mine["k4"], labels["k4"].iloc[rows])
    split = np.load(out_embedding)
    assert split.dtype == np.float32
    assert split.shape == (COUNTS[city], DIM)
    np.testing.assert_array_equal(split, embedding[rows])


def test_split_city_leaves_no_temporary_files(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, embedding_path, *_ = write_results(tmp_path, len(index))
    before = files(tmp_path)
    out_labels, out_embedding = tmp_path / "lagos" / "labels.parquet", tmp_path / "lagos" / "e.npy"
    split_city("lagos", labels_path, embedding_path, out_index, out_labels, out_embedding)
    assert files(tmp_path) == before | {"lagos/labels.parquet", "lagos/e.npy"}


def test_split_of_a_city_absent_from_the_pool_is_refused(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, embedding_path, *_ = write_results(tmp_path, len(index))
    before = files(tmp_path)
    out_labels, out_embedding = tmp_path / "dakar" / "labels.parquet", tmp_path / "dakar" / "e.npy"
    with pytest.raises(InputError, match="dakar"):
        split_city("dakar", labels_path, embedding_path, out_index, out_labels, out_embedding)
    assert files(tmp_path) == before


def test_split_with_labels_of_other_rows_is_refused(pooled, tmp_path):
    _, index, _, out_index = pooled
    labels_path, embedding_path, *_ = write_results(tmp_path, len(index) + 2)
    before = files(tmp_path)
    out_labels, out_embedding = tmp_path / "accra" / "labels.parquet", tmp_path / "accra" / "e.npy"
    with pytest.raises(InputError, match="different rows"):
        split_city("accra", labels_path, embedding_path, out_index, out_labels, out_embedding)
    assert files(tmp_path) == before


def test_split_of_a_city_whose_tiles_are_not_one_run_is_refused(tmp_path):
    index = pd.DataFrame(
        {"tile_id": [0, 1, 2, 3], "city": ["a", "b", "a", "b"], "city_tile_id": [0, 0, 1, 1]}
    )
    index_path = tmp_path / "index.parquet"
    index.to_parquet(index_path, index=False)
    labels_path, embedding_path, *_ = write_results(tmp_path, 4)
    before = files(tmp_path)
    with pytest.raises(InputError, match="one run"):
        split_city(
            "a", labels_path, embedding_path, index_path, tmp_path / "l.pq", tmp_path / "e.npy"
        )
    assert files(tmp_path) == before
