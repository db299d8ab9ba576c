"""Tests of the agreement with planted phenotypes and of the two baselines' features."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from satcluster.clustering.agreement import NO_TRUTH, agreement
from satcluster.demo.evaluate_phenotypes import (
    colour_histograms,
    downsampled_pixels,
    evaluate_phenotypes,
    truth_per_tile,
)
from satcluster.errors import InputError

CRS = "EPSG:32630"
X0, Y0 = 800_000.0, 600_000.0


def tile_row(n: int, size: float = 32.0) -> gpd.GeoSeries:
    """``n`` tiles side by side along x, indexed by tile_id 10, 11, ..."""
    x = X0 + np.arange(n) * size
    return gpd.GeoSeries(shapely.box(x, Y0, x + size, Y0 + size), index=10 + np.arange(n), crs=CRS)


def test_truth_is_the_district_with_the_largest_overlap():
    tiles = tile_row(5)  # x from 0 to 160 m
    districts = gpd.GeoDataFrame(
        {"phenotype": [3, 5, 1]},
        geometry=[
            shapely.box(X0, Y0, X0 + 40, Y0 + 32),  # tile 0 all; tile 1: 8 m
            shapely.box(X0 + 40, Y0, X0 + 80, Y0 + 32),  # tile 1: 24 m; tile 2: 16 m
            shapely.box(X0 + 80, Y0, X0 + 120, Y0 + 32),  # tile 2: 16 m (tie); tile 3: 24 m
        ],
        crs=CRS,
    )
    truth = truth_per_tile(tiles, districts)
    # tile 2 is split 16/16 between phenotypes 5 and 1: the tie goes to the lower value
    assert truth.to_dict() == {10: 3, 11: 5, 12: 1, 13: 1, 14: NO_TRUTH}


def test_truth_reprojects_districts():
    tiles = tile_row(2)
    districts = gpd.GeoDataFrame(
        {"phenotype": [6]}, geometry=[shapely.box(X0 - 10, Y0 - 10, X0 + 20, Y0 + 40)], crs=CRS
    ).to_crs("EPSG:4326")
    assert truth_per_tile(tiles, districts).tolist() == [6, NO_TRUTH]


def test_agreement_is_one_for_relabelled_truth_and_ignores_tiles_without_truth():
    truth = np.array([0, 0, 1, 1, 2, 2, NO_TRUTH])
    labels = np.array([2, 2, 0, 0, 1, 1, 0])
    assert agreement(labels, truth) == {"nmi": 1.0, "ari": 1.0, "n_tiles": 6}
    assert agreement(np.zeros(7, dtype=int), truth)["nmi"] == 0.0


def test_downsampled_pixels_are_block_means():
    tile = np.zeros((4, 4, 3), dtype=np.uint8)
    tile[:2, :2] = [10, 20, 30]
    tile[:2, 2:] = [0, 40, 0]
    tile[2:, :2] = [100, 0, 0]
    tile[3, 3] = [200, 200, 200]  # one pixel of four in the last block
    features = downsampled_pixels(tile[None], size=2)
    expected = [10, 20, 30, 0, 40, 0, 100, 0, 0, 50, 50, 50]
    np.testing.assert_allclose(features, [expected])


def test_colour_histograms_count_pixel_fractions_in_joint_bins():
    tile = np.zeros((2, 4, 3), dtype=np.uint8)
    tile[0] = [255, 255, 255]  # 4 of 8 pixels in the last bin
    tile[1, :2] = [100, 200, 50]  # bins (1, 3, 0) -> (1 * 4 + 3) * 4 + 0 = 28
    hist = colour_histograms(np.stack([tile, tile[::-1]]), bins=4)
    expected = np.zeros(64)
    expected[[63, 28, 0]] = [0.5, 0.25, 0.25]
    np.testing.assert_allclose(hist, [expected, expected])


@pytest.fixture
def demo_like(tmp_path):
    """24 tiles of 8 px in 4 colour classes (6 tiles each) with the class as planted truth."""
    rng = np.random.default_rng(0)
    colours = np.array([[30, 30, 200], [30, 160, 30], [200, 200, 190], [120, 80, 40]])
    truth = np.repeat(np.arange(4), 6)
    noise = rng.integers(-10, 11, size=(24, 8, 8, 3))
    tiles = np.clip(colours[truth][:, None, None, :] + noise, 0, 255).astype(np.uint8)
    index = gpd.GeoDataFrame(
        {"tile_id": np.arange(24), "scene": "s", "row": 0, "col": np.arange(24)},
        geometry=tile_row(24).to_numpy(),
        crs=CRS,
    )
    districts = gpd.GeoDataFrame(
        {"phenotype": truth, "phenotype_name": [f"p{t}" for t in truth]},
        geometry=index.geometry.to_numpy(),
        crs=CRS,
    )
    labels = pd.DataFrame({"tile_id": np.arange(24), "k2": truth // 2, "k4": (truth + 1) % 4})
    paths = {name: tmp_path / name for name in ("tiles.npy", "index.parquet", "labels.parquet")}
    np.save(paths["tiles.npy"], tiles)
    index.to_parquet(paths["index.parquet"])
    labels.to_parquet(paths["labels.parquet"])
    districts.to_file(tmp_path / "truth.gpkg")
    return [paths["tiles.npy"], paths["index.parquet"], paths["labels.parquet"]], tmp_path


def test_evaluate_phenotypes_table(demo_like):
    paths, tmp_path = demo_like
    out = tmp_path / "agreement.csv"
    table = evaluate_phenotypes(
        *paths, tmp_path / "truth.gpkg", out, ks=[2, 4], pca_dim=3, seed=0, n_init=5
    )
    assert table[["method", "k"]].values.tolist() == [
        [method, k] for method in ("DeepCluster", "raw pixels", "colour histogram") for k in (2, 4)
    ]
    deepcluster_k4 = table.query("method == 'DeepCluster' and k == 4").iloc[0]
    assert deepcluster_k4["nmi"] == pytest.approx(1.0) and deepcluster_k4["ari"] == 1.0
    # four flat colours: both baselines find them at k = 4
    assert table.query("k == 4")["ari"].tolist() == [1.0, 1.0, 1.0]
    assert (table["n_tiles"] == 24).all()
    pd.testing.assert_frame_equal(pd.read_csv(out), table.round(4), check_dtype=False)


def test_evaluate_phenotypes_refuses_mismatched_inputs(demo_like):
    paths, tmp_path = demo_like
    np.save(paths[0], np.zeros((5, 8, 8, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="disagree"):
        evaluate_phenotypes(
            *paths, tmp_path / "truth.gpkg", None, ks=[2], pca_dim=3, seed=0, n_init=1
        )


def test_downsampling_by_a_non_integer_factor_weights_partial_pixels():
    tile = np.zeros((3, 3, 1), dtype=np.uint8)
    tile[:, 1] = 90  # middle column: half of it falls in each of the 2 output columns
    tile[:, 2] = 30
    features = downsampled_pixels(tile[None], size=2)
    # left output column: 1 px of 0 and 0.5 px of 90 -> 30; right: 0.5 px of 90, 1 px of 30 -> 50
    np.testing.assert_allclose(features, [[30, 50, 30, 50]], rtol=1e-6)
