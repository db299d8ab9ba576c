"""Population density from WorldPop-like people-per-pixel rasters (100 m, 1 km) in EPSG:4326."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import CRS, Geod, Proj
from rasterio.transform import from_origin

from satcluster.covariates.population import population_covariates
from satcluster.errors import InputError
from tests.harness.demo_tiles import demo_tiles_by_phenotype
from tests.harness.zonal_reference import area_weighted_reference

UTM = "EPSG:32630"
RES = 3 / 3600  # WorldPop's 3 arc-seconds (the "100 m" products)
RES_1KM = 30 / 3600  # WorldPop's 30 arc-seconds (the "1 km" products)
WEST, NORTH = -0.2, 5.6  # Accra
NODATA = -99999.0
# A 250 m tile well inside the 30 x 30 pixel test raster.
TILE = shapely.box(811_400, 618_150, 811_650, 618_400)


def _write_ppp(
    path: Path, ppp: np.ndarray, res: float = RES, nodata: float | None = NODATA
) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=ppp.shape[1],
        height=ppp.shape[0],
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(WEST, NORTH, res, res),
        nodata=nodata,
    ) as dataset:
        dataset.write(ppp.astype("float32"), 1)
    return path


def _pixel_area_km2(n_rows: int, res: float = RES) -> np.ndarray:
    """Geodesic area of one pixel in each row of the test grid (km^2)."""
    geod = Geod(ellps="WGS84")
    areas = []
    for row in range(n_rows):
        top, bottom = NORTH - row * res, NORTH - (row + 1) * res
        lons = [WEST, WEST + res, WEST + res, WEST]
        lats = [top, top, bottom, bottom]
        areas.append(abs(geod.polygon_area_perimeter(lons, lats)[0]) / 1e6)
    return np.array(areas)


def _uniform_ppp(
    density_km2: float, shape: tuple[int, int] = (30, 30), res: float = RES
) -> np.ndarray:
    """People per pixel for a city of uniform density: a count, so it shrinks with pixel area."""
    return np.repeat(density_km2 * _pixel_area_km2(shape[0], res)[:, None], shape[1], axis=1)


def _utm_areal_scale(geom: shapely.Geometry) -> float:
    """How much larger a small area is in UTM than on the ground at ``geom``'s centre."""
    lon, lat = gpd.GeoSeries([geom.centroid], crs=UTM).to_crs(4326).iloc[0].coords[0]
    return float(Proj(CRS(UTM)).get_factors(lon, lat).areal_scale)


def _tiles(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), index=np.arange(len(geoms)) + 7, crs=UTM)


def test_uniform_density_is_recovered_from_counts(tmp_path):
    # 1000 people/km^2 everywhere, written as counts per pixel. The tile's UTM area is
    # larger than its ground area by the projection's areal scale, hence the division.
    path = _write_ppp(tmp_path / "ppp.tif", _uniform_ppp(1000.0))
    rotated = shapely.affinity.rotate(TILE, 20)
    table = population_covariates(_tiles(TILE, rotated), path)
    assert list(table.columns) == ["population_density_km2", "population_coverage"]
    expected = 1000.0 / _utm_areal_scale(TILE)
    np.testing.assert_allclose(table["population_density_km2"], expected, rtol=1e-4)
    np.testing.assert_allclose(table["population_coverage"], 1.0, rtol=1e-6)


def test_density_matches_brute_force_area_weighted_reference(tmp_path):
    rng = np.random.default_rng(3)
    ppp = rng.gamma(2.0, 10.0, size=(30, 30))
    path = _write_ppp(tmp_path / "ppp.tif", ppp)
    tile = shapely.affinity.rotate(TILE, 33)
    table = population_covariates(_tiles(tile), path)
    # Reference: the tile densified to 1 m, reprojected, intersected with every pixel.
    lonlat = gpd.GeoSeries([shapely.segmentize(tile, 1.0)], crs=UTM).to_crs(4326).iloc[0]
    people, count = area_weighted_reference(
        lonlat, ppp.astype("float32").astype(float), from_origin(WEST, NORTH, RES, RES)
    )
    assert count == pytest.approx(lonlat.area / RES**2, rel=1e-6)  # fully covered
    assert table.loc[7, "population_density_km2"] == pytest.approx(
        people / (tile.area / 1e6), rel=1e-5
    )
    assert table.loc[7, "population_coverage"] == pytest.approx(1.0)


def test_partial_nodata_scales_people_by_the_valid_area(tmp_path):
    # Uniform 1000/km^2 but the western half of the grid is nodata: the tile straddles
    # the edge, its coverage is the valid share of its area, and its density stays 1000.
    ppp = _uniform_ppp(1000.0)
    ppp[:, :15] = NODATA
    path = _write_ppp(tmp_path / "ppp.tif", ppp)
    edge_lon = WEST + 15 * RES
    centre_x = gpd.GeoSeries([shapely.Point(edge_lon, 5.5875)], crs=4326).to_crs(UTM).iloc[0].x
    tile = shapely.box(centre_x - 60, 618_150, centre_x + 190, 618_400)  # 60 m west of the edge
    table = population_covariates(_tiles(tile), path)
    lonlat = gpd.GeoSeries([shapely.segmentize(tile, 1.0)], crs=UTM).to_crs(4326).iloc[0]
    valid_share = lonlat.intersection(shapely.box(edge_lon, 5.0, 1.0, 6.0)).area / lonlat.area
    assert 0.7 < valid_share < 0.8
    assert table.loc[7, "population_coverage"] == pytest.approx(valid_share, rel=1e-5)
    assert table.loc[7, "population_density_km2"] == pytest.approx(
        1000.0 / _utm_areal_scale(tile), rel=1e-4
    )


def test_tiles_without_data_get_nan_density(tmp_path):
    ppp = _uniform_ppp(500.0)
    ppp[:, :] = NODATA
    path = _write_ppp(tmp_path / "ppp.tif", ppp)
    with pytest.warns(UserWarning, match="population raster .* no valid pixel"):
        table = population_covariates(_tiles(TILE), path)
    assert np.isnan(table.loc[7, "population_density_km2"])
    assert table.loc[7, "population_coverage"] == 0.0


def test_raster_elsewhere_gives_nan_and_a_warning(tmp_path):
    path = _write_ppp(tmp_path / "ppp.tif", _uniform_ppp(500.0))
    far = shapely.box(500_000, 100_000, 500_032, 100_032)
    with pytest.warns(UserWarning, match="Check that the raster covers the city"):
        table = population_covariates(_tiles(far), path)
    assert np.isnan(table.loc[7, "population_density_km2"])
    assert table.loc[7, "population_coverage"] == 0.0


def test_geographic_tiles_are_an_input_error(tmp_path):
    path = _write_ppp(tmp_path / "ppp.tif", _uniform_ppp(500.0))
    tiles = _tiles(TILE).to_crs(4326)
    with pytest.raises(InputError, match="not projected.*set `crs`"):
        population_covariates(tiles, path)


def test_empty_chunk_gives_an_empty_table(tmp_path):
    path = _write_ppp(tmp_path / "ppp.tif", _uniform_ppp(500.0))
    table = population_covariates(_tiles(), path)
    assert table.empty
    assert list(table.columns) == ["population_density_km2", "population_coverage"]


def test_demo_city_dense_districts_are_the_most_populated(demo_city):
    tiles = demo_tiles_by_phenotype(demo_city.truth)
    table = population_covariates(tiles, demo_city.population).join(tiles["phenotype"])
    density = table.groupby("phenotype")["population_density_km2"].median()
    assert set(density.index) == set(range(8))
    dense = density.loc[[0, 1]]
    assert dense.min() > density.drop([0, 1]).max()
    assert density.loc[[3, 5, 7]].max() < density.loc[2]  # vegetation and empty land: few people


# --- nodata variants and WorldPop's 1 km product ------------------------------------------

FLOAT32_MIN = float(np.finfo(np.float32).min)  # -3.4e38, WorldPop's usual nodata
NODATA_VARIANTS = {
    # name: (nodata declared in the file's metadata, fill value written in the pixels)
    "declared -99999": (-99999.0, -99999.0),
    "declared float32 min": (FLOAT32_MIN, FLOAT32_MIN),
    "declared NaN": (float("nan"), float("nan")),
    "undeclared -99999": (None, -99999.0),
    "undeclared float32 min": (None, FLOAT32_MIN),
    "declared -99999, filled float32 min": (-99999.0, FLOAT32_MIN),
}


def _population_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.endswith("population")]


def _edge_tile(res: float) -> shapely.Geometry:
    """A 250 m tile 60 m west of the meridian between pixel columns 14 and 15."""
    edge_lon = WEST + 15 * res
    centre_x = gpd.GeoSeries([shapely.Point(edge_lon, 5.5875)], crs=4326).to_crs(UTM).iloc[0].x
    return shapely.box(centre_x - 60, 618_150, centre_x + 190, 618_400)


@pytest.mark.parametrize("res", [RES, RES_1KM], ids=["100m", "1km"])
@pytest.mark.parametrize("variant", list(NODATA_VARIANTS))
def test_nodata_variants_give_the_valid_part_density(tmp_path, caplog, res, variant):
    # Uniform 1000/km^2, western half no data however it is marked: the tile straddling
    # the edge keeps density 1000 and its coverage is the valid share of its area.
    caplog.set_level(logging.WARNING)
    nodata, fill = NODATA_VARIANTS[variant]
    ppp = _uniform_ppp(1000.0, res=res)
    ppp[:, :15] = fill
    path = _write_ppp(tmp_path / "ppp.tif", ppp, res=res, nodata=nodata)
    tile = _edge_tile(res)
    table = population_covariates(_tiles(tile), path)
    lonlat = gpd.GeoSeries([shapely.segmentize(tile, 1.0)], crs=UTM).to_crs(4326).iloc[0]
    valid = lonlat.intersection(shapely.box(WEST + 15 * res, 5.0, 1.0, 6.0)).area / lonlat.area
    assert 0.7 < valid < 0.8
    assert table.loc[7, "population_coverage"] == pytest.approx(valid, rel=1e-5)
    assert table.loc[7, "population_density_km2"] == pytest.approx(
        1000.0 / _utm_areal_scale(tile), rel=1e-4
    )
    warnings = _population_warnings(caplog)
    if variant.startswith("declared") and "filled" not in variant:
        assert warnings == []
    else:
        assert len(warnings) == 1
        assert "treated as nodata" in warnings[0]
        assert "np.float" not in warnings[0]


def test_tile_inside_one_1km_pixel_gets_its_count_over_its_area(tmp_path):
    rng = np.random.default_rng(11)
    ppp = rng.gamma(2.0, 500.0, size=(30, 30))
    path = _write_ppp(tmp_path / "ppp_1km.tif", ppp, res=RES_1KM)
    tiles = _tiles(TILE, shapely.box(811_500, 618_250, 811_532, 618_282))  # 250 m and 32 m
    table = population_covariates(tiles, path)
    # Both tiles lie in one pixel: find it from the tile centre.
    lon, lat = gpd.GeoSeries([TILE.centroid], crs=UTM).to_crs(4326).iloc[0].coords[0]
    row, col = int((NORTH - lat) // RES_1KM), int((lon - WEST) // RES_1KM)
    pixel_km2 = _pixel_area_km2(row + 1, RES_1KM)[row]
    assert 0.8 < pixel_km2 < 0.9  # 30 arc-seconds near the equator: about 0.85 km^2
    expected = ppp.astype("float32")[row, col] / pixel_km2 / _utm_areal_scale(TILE)
    np.testing.assert_allclose(table["population_density_km2"], expected, rtol=1e-4)
    np.testing.assert_allclose(table["population_coverage"], 1.0)


def test_tile_across_1km_pixels_matches_the_area_weighted_reference(tmp_path):
    rng = np.random.default_rng(5)
    ppp = rng.gamma(2.0, 500.0, size=(30, 30))
    path = _write_ppp(tmp_path / "ppp_1km.tif", ppp, res=RES_1KM)
    # A 1.5 km rotated tile, so that it cuts several 1 km pixels.
    tile = shapely.affinity.rotate(shapely.box(811_000, 617_500, 812_500, 619_000), 17)
    table = population_covariates(_tiles(tile), path)
    lonlat = gpd.GeoSeries([shapely.segmentize(tile, 1.0)], crs=UTM).to_crs(4326).iloc[0]
    people, _ = area_weighted_reference(
        lonlat, ppp.astype("float32").astype(float), from_origin(WEST, NORTH, RES_1KM, RES_1KM)
    )
    assert table.loc[7, "population_density_km2"] == pytest.approx(
        people / (tile.area / 1e6), rel=1e-5
    )
    assert table.loc[7, "population_coverage"] == pytest.approx(1.0)
