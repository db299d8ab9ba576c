"""NDVI from Sentinel-2 L2A B04/B08/SCL: BOA offset, SCL masking and resampling, tile means.

The bands are written as the product ships them: uint16 DNs in JPEG 2000 (lossless)
when GDAL has the JP2OpenJPEG driver, else GeoTIFF (the reader does not care which),
10 m B04/B08 and a 20 m SCL, with an MTD_MSIL2A.xml where a test wants one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from satcluster.covariates.chunks import gather_tables, write_table
from satcluster.covariates.ndvi import ndvi_source
from satcluster.covariates.sentinel2 import (
    SCL_KEPT,
    SCL_MASKED,
    BandScaling,
    read_product_metadata,
    scl_clear,
    sentinel2_ndvi,
    sentinel2_ndvi_covariates,
)
from satcluster.errors import InputError

UTM = "EPSG:32630"
with rasterio.Env() as _env:
    HAS_JP2 = "JP2OpenJPEG" in _env.drivers()
DRIVER, EXT = ("JP2OpenJPEG", "jp2") if HAS_JP2 else ("GTiff", "tif")
PRODUCT = "S2A_MSIL2A_20220105T103431_N0400_R108_T30NZM_20220105T130106"
STEM = "T30NZM_20220105T103431"

# Hand values, offset -1000 and quantification 10000:
# vegetation red DN 1500 -> 0.05, NIR 4000 -> 0.30: (0.30 - 0.05) / 0.35 = 5/7
# dark area  red DN 1300 -> 0.03, NIR 1500 -> 0.05: (0.05 - 0.03) / 0.08 = 1/4
# without the offset vegetation would be (0.40 - 0.15) / 0.55 = 5/11.
VEG_NDVI, DARK_NDVI, VEG_NDVI_NO_OFFSET = 5 / 7, 1 / 4, 5 / 11
# The 20 m SCL, 2 x 2 pixels: vegetation | cloud (high) / dark area | cloud shadow.
SCL = np.array([[4, 9], [2, 3]])


def _write(path: Path, band: np.ndarray, res: float, crs: str = UTM) -> Path:
    # Real L2A JP2 files declare no nodata value: DN 0 is no data by convention.
    profile = {"REVERSIBLE": "YES", "QUALITY": 100} if HAS_JP2 else {}
    with rasterio.open(
        path,
        "w",
        driver=DRIVER,
        width=band.shape[1],
        height=band.shape[0],
        count=1,
        dtype="uint8" if "SCL" in path.name else "uint16",
        crs=crs,
        transform=from_origin(0, 40, res, res),
        **profile,
    ) as dataset:
        dataset.write(band.astype(dataset.dtypes[0]), 1)
    return path


def _mtd(
    offsets: dict[int, int] | None = None, baseline: str = "04.00", product: str = PRODUCT
) -> str:
    """An MTD_MSIL2A.xml excerpt: product info, spectral information and BOA offsets."""
    physical = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    spectral = "".join(
        f'<Spectral_Information bandId="{i}" physicalBand="{b}"><RESOLUTION>10</RESOLUTION>'
        "</Spectral_Information>"
        for i, b in enumerate(physical)
    )
    offset_list = ""
    if offsets is not None:
        items = "".join(
            f'<BOA_ADD_OFFSET band_id="{i}">{v}</BOA_ADD_OFFSET>' for i, v in offsets.items()
        )
        offset_list = f"<BOA_ADD_OFFSET_VALUES_LIST>{items}</BOA_ADD_OFFSET_VALUES_LIST>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/'
        'User_Product_Level-2A.xsd"><n1:General_Info><Product_Info>'
        f"<PRODUCT_URI>{product}.SAFE</PRODUCT_URI>"
        f"<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>"
        "<PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE></Product_Info>"
        "<Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>"
        '<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>'
        "</QUANTIFICATION_VALUES_LIST>"
        f"{offset_list}<Spectral_Information_List>{spectral}</Spectral_Information_List>"
        "</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>"
    )


ALL_MINUS_1000 = dict.fromkeys(range(13), -1000)


def _bands() -> tuple[np.ndarray, np.ndarray]:
    """4 x 4 DNs on the 10 m grid: vegetation top-left, dark area bottom-left, clouds right."""
    red, nir = np.full((4, 4), 5000), np.full((4, 4), 5200)
    red[:2, :2], nir[:2, :2] = 1500, 4000
    red[2:, :2], nir[2:, :2] = 1300, 1500
    return red, nir


def _product(folder: Path, mtd: str | None = None, safe: bool = False) -> tuple[Path, Path, Path]:
    """B04, B08 (10 m) and SCL (20 m) files, in a .SAFE tree or flat in ``folder``."""
    red, nir = _bands()
    if safe:
        root = folder / f"{PRODUCT}.SAFE"
        img = root / "GRANULE" / "L2A_T30NZM_A034186_20220105T103427" / "IMG_DATA"
        ten, twenty = img / "R10m", img / "R20m"
    else:
        root = ten = twenty = folder
    for path in (ten, twenty):
        path.mkdir(parents=True, exist_ok=True)
    if mtd is not None:
        (root / "MTD_MSIL2A.xml").write_text(mtd)
    return (
        _write(ten / f"{STEM}_B04_10m.{EXT}", red, 10),
        _write(ten / f"{STEM}_B08_10m.{EXT}", nir, 10),
        _write(twenty / f"{STEM}_SCL_20m.{EXT}", SCL, 20),
    )


def _tiles(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), index=np.arange(len(geoms)), crs=UTM)


WHOLE = shapely.box(0, 0, 40, 40)


def _s2_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.endswith("sentinel2")]


def test_scl_classes_masked_and_kept():
    assert set(SCL_MASKED) == {0, 1, 3, 8, 9, 10, 11}
    assert set(SCL_KEPT) == {2, 4, 5, 6, 7}
    assert scl_clear(np.arange(12)).tolist() == [c in SCL_KEPT for c in range(12)]


def test_offset_scaling_by_hand_on_one_pixel():
    scaling = BandScaling(-1000.0, 10000.0, "test")
    ndvi = sentinel2_ndvi(
        np.array([[1500, 0]]), np.array([[4000, 4000]]), np.array([[4, 4]]), scaling, scaling
    )
    assert ndvi[0, 0] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert np.isnan(ndvi[0, 1])  # DN 0 is no data


def test_whole_scene_offset_applied_and_classes_masked(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, scl = _product(tmp_path, _mtd(ALL_MINUS_1000))
    table = sentinel2_ndvi_covariates(_tiles(WHOLE), red, nir, scl)
    assert list(table.columns) == ["ndvi_mean", "ndvi_valid_fraction"]
    assert ndvi_source(table) == "sentinel2"
    # Cloud (9) and shadow (3) mask the right half; vegetation (4) and dark area (2) stay.
    assert table.loc[0, "ndvi_valid_fraction"] == pytest.approx(8 / 16)
    assert table.loc[0, "ndvi_mean"] == pytest.approx((VEG_NDVI + DARK_NDVI) / 2, abs=1e-6)
    assert _s2_warnings(caplog) == []


def test_scl_is_resampled_by_nearest_onto_the_10m_grid(tmp_path):
    # Row 1 of the 10 m grid, columns 1 and 2: column 1 lies in the vegetation SCL pixel,
    # column 2 in the cloud one, so half of the tile is valid, all of it vegetation. A
    # single 10 m pixel inside each 20 m class gets that class.
    red, nir, scl = _product(tmp_path, _mtd(ALL_MINUS_1000))
    tiles = _tiles(
        shapely.box(10, 20, 30, 30),
        shapely.box(10, 20, 20, 30),
        shapely.box(10, 0, 20, 10),
        shapely.box(20, 20, 30, 30),
    )
    table = sentinel2_ndvi_covariates(tiles, red, nir, scl)
    assert table["ndvi_valid_fraction"].tolist() == pytest.approx([0.5, 1.0, 1.0, 0.0])
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert table.loc[1, "ndvi_mean"] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert table.loc[2, "ndvi_mean"] == pytest.approx(DARK_NDVI, abs=1e-6)
    assert np.isnan(table.loc[3, "ndvi_mean"])


def test_safe_tree_metadata_is_found_at_the_root(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, scl = _product(tmp_path, _mtd(ALL_MINUS_1000), safe=True)
    assert red.parent.name == "R10m" and scl.parent.name == "R20m"
    table = sentinel2_ndvi_covariates(_tiles(shapely.box(0, 20, 20, 40)), red, nir, scl)
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert _s2_warnings(caplog) == []


def test_per_band_offsets_are_read_by_physical_band(tmp_path):
    offsets = {**ALL_MINUS_1000, 3: -1100, 7: -900}
    (tmp_path / "MTD_MSIL2A.xml").write_text(_mtd(offsets))
    fields = read_product_metadata(tmp_path / "MTD_MSIL2A.xml")
    assert fields["BOA_ADD_OFFSET/B4"] == "-1100"
    assert fields["BOA_ADD_OFFSET/B8"] == "-900"
    assert fields["PROCESSING_BASELINE"] == "04.00"
    red, nir, scl = _product(tmp_path)
    table = sentinel2_ndvi_covariates(_tiles(shapely.box(0, 20, 20, 40)), red, nir, scl)
    red_r, nir_r = (1500 - 1100) / 1e4, (4000 - 900) / 1e4
    assert table.loc[0, "ndvi_mean"] == pytest.approx((nir_r - red_r) / (nir_r + red_r), abs=1e-6)


def test_pre_04_baseline_without_offsets_uses_no_offset(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, scl = _product(tmp_path, _mtd(None, baseline="03.01"))
    table = sentinel2_ndvi_covariates(_tiles(shapely.box(0, 20, 20, 40)), red, nir, scl)
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI_NO_OFFSET, abs=1e-6)
    assert _s2_warnings(caplog) == []


def test_without_metadata_the_default_offset_is_used_with_one_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, scl = _product(tmp_path)
    table = sentinel2_ndvi_covariates(_tiles(shapely.box(0, 20, 20, 40)), red, nir, scl)
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI, abs=1e-6)
    warnings = _s2_warnings(caplog)
    assert len(warnings) == 1
    assert "BOA_ADD_OFFSET is not verified" in warnings[0] and "-1000" in warnings[0]
    assert "np.float" not in warnings[0]


def test_configured_offset_is_used_without_metadata_silently(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, scl = _product(tmp_path)
    table = sentinel2_ndvi_covariates(
        _tiles(shapely.box(0, 20, 20, 40)), red, nir, scl, boa_add_offset=0
    )
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI_NO_OFFSET, abs=1e-6)
    assert _s2_warnings(caplog) == []


def test_metadata_wins_over_a_configured_offset_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, scl = _product(tmp_path, _mtd(ALL_MINUS_1000))
    table = sentinel2_ndvi_covariates(
        _tiles(shapely.box(0, 20, 20, 40)), red, nir, scl, boa_add_offset=0
    )
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert any("boa_add_offset 0 is not the product's -1000" in m for m in _s2_warnings(caplog))


def test_metadata_of_another_date_is_skipped(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    other = PRODUCT.replace("20220105T103431", "20220110T103421")
    red, nir, scl = _product(tmp_path, _mtd(None, baseline="03.01", product=other))
    table = sentinel2_ndvi_covariates(_tiles(shapely.box(0, 20, 20, 40)), red, nir, scl)
    assert table.loc[0, "ndvi_mean"] == pytest.approx(VEG_NDVI, abs=1e-6)  # default, not 0
    messages = _s2_warnings(caplog)
    assert any("is not used" in m for m in messages)
    assert any("not verified" in m for m in messages)


def test_level_1c_metadata_is_an_input_error(tmp_path):
    red, nir, scl = _product(tmp_path)
    (tmp_path / "MTD_MSIL1C.xml").write_text("<Level-1C_User_Product/>")
    with pytest.raises(InputError, match=r"B04_10m.* Level-1C product .*Level-2A"):
        sentinel2_ndvi_covariates(_tiles(WHOLE), red, nir, scl)


def test_bands_given_in_the_wrong_roles_are_input_errors(tmp_path):
    red, nir, scl = _product(tmp_path)
    with pytest.raises(InputError, match=r"red file .*B08_10m.* is band B08, not B04"):
        sentinel2_ndvi_covariates(_tiles(WHOLE), nir, red, scl)
    with pytest.raises(InputError, match=r"scl file .* is band B04, not SCL"):
        sentinel2_ndvi_covariates(_tiles(WHOLE), red, nir, red)


def test_scl_in_another_crs_is_an_input_error(tmp_path):
    red, nir, _ = _product(tmp_path)
    scl = _write(tmp_path / f"other_SCL_20m.{EXT}", SCL, 20, crs="EPSG:32631")
    with pytest.raises(InputError, match="SCL raster .* is in EPSG:32631"):
        sentinel2_ndvi_covariates(_tiles(WHOLE), red, nir, scl)


def test_source_survives_the_chunk_tables(tmp_path):
    red, nir, scl = _product(tmp_path, _mtd(ALL_MINUS_1000))
    table = sentinel2_ndvi_covariates(_tiles(WHOLE, shapely.box(0, 0, 20, 20)), red, nir, scl)
    write_table(table.iloc[:1], tmp_path / "chunk_0.parquet")
    write_table(table.iloc[1:], tmp_path / "chunk_1.parquet")
    gathered = gather_tables(
        [tmp_path / "chunk_0.parquet", tmp_path / "chunk_1.parquet"], tmp_path / "ndvi.parquet"
    )
    assert ndvi_source(gathered) == "sentinel2"
    assert ndvi_source(pd.read_parquet(tmp_path / "ndvi.parquet")) == "sentinel2"
    assert ndvi_source(pd.DataFrame()) == "landsat"
