"""NDVI from Landsat 8-9 C2 L2 bands: product checks, reflectance scaling, QA masking, tile means."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from satcluster.covariates.landsat_product import check_landsat_bands, parse_product_id, read_mtl
from satcluster.covariates.ndvi import landsat_ndvi, ndvi_covariates, qa_clear, reflectance
from satcluster.errors import InputError
from tests.harness.demo_tiles import demo_tiles_by_phenotype

UTM = "EPSG:32630"
CLEAR_QA = 21824  # a typical clear-land QA_PIXEL value: bits 6, 8, 10, 12, 14 set
CLOUD_QA = 1 << 3
# Two land covers and their NDVI from reflectances (DN * 0.0000275 - 0.2), by hand:
# vegetation red 10000 -> 0.075, NIR 20000 -> 0.35: (0.35 - 0.075) / (0.35 + 0.075)
# bare soil  red 12000 -> 0.13,  NIR 14000 -> 0.185: (0.185 - 0.13) / (0.185 + 0.13)
VEG_RED, VEG_NIR, VEG_NDVI = 10000, 20000, 0.275 / 0.425
SOIL_RED, SOIL_NIR, SOIL_NDVI = 12000, 14000, 0.055 / 0.315


def _write(path: Path, band: np.ndarray, nodata: int, crs: str | None = UTM, x0: float = 0):
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=band.shape[1],
        height=band.shape[0],
        count=1,
        dtype="uint16",
        crs=crs,
        transform=from_origin(x0, 120, 30, 30),
        nodata=nodata,
    ) as dataset:
        dataset.write(band.astype("uint16"), 1)
    return path


def _scene(tmp_path: Path, qa: np.ndarray | None = None, **kwargs) -> tuple[Path, Path, Path]:
    """4 x 4 pixels of 30 m: vegetation in columns 0-1, bare soil in columns 2-3."""
    red = np.where(np.arange(4)[None, :] < 2, VEG_RED, SOIL_RED) * np.ones((4, 1), int)
    nir = np.where(np.arange(4)[None, :] < 2, VEG_NIR, SOIL_NIR) * np.ones((4, 1), int)
    qa = np.full((4, 4), CLEAR_QA) if qa is None else qa
    return (
        _write(tmp_path / "SR_B4.TIF", red, nodata=0, **kwargs),
        _write(tmp_path / "SR_B5.TIF", nir, nodata=0, **kwargs),
        _write(tmp_path / "QA_PIXEL.TIF", qa, nodata=1, **kwargs),
    )


def _tiles(*geoms: shapely.Geometry) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(geoms), index=np.arange(len(geoms)), crs=UTM)


def _masked_block_qa() -> np.ndarray:
    qa = np.full((4, 4), CLEAR_QA)
    qa[0:2, 0:2] = CLOUD_QA
    return qa


def test_reflectance_is_scaled_before_the_ratio():
    assert reflectance(np.array([10000, 20000])) == pytest.approx([0.075, 0.35], abs=1e-6)
    ndvi = landsat_ndvi(np.array([[VEG_RED]]), np.array([[VEG_NIR]]), np.array([[CLEAR_QA]]))
    assert ndvi[0, 0] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert abs(ndvi[0, 0] - (VEG_NIR - VEG_RED) / (VEG_NIR + VEG_RED)) > 0.3  # not on raw DNs


@pytest.mark.parametrize("bit", [0, 1, 2, 3, 4])
def test_each_of_qa_bits_0_to_4_masks_a_pixel(bit):
    qa = np.array([[CLEAR_QA, CLEAR_QA | (1 << bit)]])
    assert qa_clear(qa).tolist() == [[True, False]]
    ndvi = landsat_ndvi(np.full((1, 2), VEG_RED), np.full((1, 2), VEG_NIR), qa)
    assert ndvi[0, 0] == pytest.approx(VEG_NDVI, abs=1e-6)
    assert np.isnan(ndvi[0, 1])


def test_other_qa_bits_do_not_mask():
    # bit 6 is "clear", bit 5 snow, bit 7 water: none of them hides the surface.
    qa = np.array([[1 << 6, 1 << 5, 1 << 7, 0]])
    assert qa_clear(qa).all()


def test_fill_and_nonpositive_reflectance_are_masked():
    red = np.array([[0, VEG_RED, 100]])
    nir = np.array([[VEG_NIR, 0, 200]])  # DN 100 / 200 give reflectances below 0
    ndvi = landsat_ndvi(red, nir, np.full((1, 3), CLEAR_QA))
    assert np.isnan(ndvi).all()


def test_mean_over_a_scene_with_a_qa_masked_block(tmp_path):
    # The cloud block is the top-left 2 x 2 vegetation pixels: 4 vegetation and 8 soil
    # pixels remain for the tile covering the whole scene.
    red, nir, qa = _scene(tmp_path, qa=_masked_block_qa())
    table = ndvi_covariates(_tiles(shapely.box(0, 0, 120, 120)), red, nir, qa)
    assert list(table.columns) == ["ndvi_mean", "ndvi_valid_fraction"]
    assert table.loc[0, "ndvi_valid_fraction"] == pytest.approx(12 / 16)
    assert table.loc[0, "ndvi_mean"] == pytest.approx((4 * VEG_NDVI + 8 * SOIL_NDVI) / 12, abs=1e-6)


def test_tile_offset_by_half_a_pixel_over_the_masked_block(tmp_path):
    # Tile x 15..75, y 45..105: rows 0-2 and columns 0-2 weigh 0.5, 1, 0.5. The cloud
    # block weighs 0.25 + 0.5 + 0.5 + 1 = 2.25 of the tile's 4 pixels; vegetation keeps
    # row 2 of columns 0-1 (0.25 + 0.5 = 0.75), soil column 2 (0.5 * 2 = 1.0).
    red, nir, qa = _scene(tmp_path, qa=_masked_block_qa())
    table = ndvi_covariates(_tiles(shapely.box(15, 45, 75, 105)), red, nir, qa)
    assert table.loc[0, "ndvi_valid_fraction"] == pytest.approx(1.75 / 4)
    expected = (0.75 * VEG_NDVI + 1.0 * SOIL_NDVI) / 1.75
    assert table.loc[0, "ndvi_mean"] == pytest.approx(expected, abs=1e-6)


def test_fully_masked_tile_is_nan(tmp_path):
    red, nir, qa = _scene(tmp_path, qa=_masked_block_qa())
    table = ndvi_covariates(
        _tiles(shapely.box(0, 60, 60, 120), shapely.box(60, 0, 120, 60)), red, nir, qa
    )
    assert np.isnan(table.loc[0, "ndvi_mean"])
    assert table.loc[0, "ndvi_valid_fraction"] == 0.0
    assert table.loc[1, "ndvi_mean"] == pytest.approx(SOIL_NDVI, abs=1e-6)
    assert table.loc[1, "ndvi_valid_fraction"] == pytest.approx(1.0)


def test_all_cloud_scene_gives_nan_and_a_warning(tmp_path):
    red, nir, qa = _scene(tmp_path, qa=np.full((4, 4), CLOUD_QA))
    with pytest.warns(UserWarning, match="Landsat raster .* no valid pixel"):
        table = ndvi_covariates(_tiles(shapely.box(0, 0, 120, 120)), red, nir, qa)
    assert table["ndvi_mean"].isna().all()
    assert (table["ndvi_valid_fraction"] == 0).all()


def test_bands_on_different_grids_are_an_input_error(tmp_path):
    red, nir, _ = _scene(tmp_path)
    shifted_qa = _write(tmp_path / "other_QA_PIXEL.TIF", np.full((4, 4), CLEAR_QA), 1, x0=15)
    with pytest.raises(InputError, match="QA_PIXEL raster .* is not on the grid of red"):
        ndvi_covariates(_tiles(shapely.box(0, 0, 60, 60)), red, nir, shifted_qa)


def test_band_without_crs_is_an_input_error(tmp_path):
    red, nir, qa = _scene(tmp_path, crs=None)
    with pytest.raises(InputError, match="Landsat red .*SR_B4.TIF has no CRS"):
        ndvi_covariates(_tiles(shapely.box(0, 0, 60, 60)), red, nir, qa)


def test_demo_city_vegetation_is_greenest_and_water_lowest(demo_city):
    tiles = demo_tiles_by_phenotype(demo_city.truth)
    table = ndvi_covariates(
        tiles, demo_city.landsat_red, demo_city.landsat_nir, demo_city.landsat_qa
    ).join(tiles["phenotype"])
    ndvi = table.groupby("phenotype")["ndvi_mean"].median()
    assert set(ndvi.index) == set(range(8))
    assert ndvi.loc[[3, 7]].min() > ndvi.loc[[0, 1]].max()
    assert ndvi.idxmin() == 6
    # The demo's cloud and its shadow are masked: some tiles lose part of their pixels.
    assert (table["ndvi_valid_fraction"] < 1).any()
    assert table["ndvi_valid_fraction"].between(0, 1).all()


# --- which Landsat product the bands are (landsat_product) --------------------------------

L2_C2 = "LC08_L2SP_193056_20200101_20200109_02_T1"  # the demo city's product id
L9_L2_C2 = "LC09_L2SP_193056_20220105_20220107_02_T1"
L1_C2 = "LC08_L1TP_193056_20200101_20200113_02_T1"
L2_C1 = "LC08_L1TP_193056_20200101_20200113_01_T1"
PRE_COLLECTION = "LC81930562020001LGN00"

# Excerpts of real MTL files: a Collection 2 Level-2 one repeats its Level-1 source's
# PROCESSING_LEVEL in LEVEL1_PROCESSING_RECORD, which must not be taken for the product's.
MTL_C2_L2_TXT = f"""GROUP = LANDSAT_METADATA_FILE
  GROUP = PRODUCT_CONTENTS
    LANDSAT_PRODUCT_ID = "{L2_C2}"
    PROCESSING_LEVEL = "L2SP"
    COLLECTION_NUMBER = 02
    COLLECTION_CATEGORY = "T1"
  END_GROUP = PRODUCT_CONTENTS
  GROUP = IMAGE_ATTRIBUTES
    SPACECRAFT_ID = "LANDSAT_8"
    SENSOR_ID = "OLI_TIRS"
  END_GROUP = IMAGE_ATTRIBUTES
  GROUP = LEVEL1_PROCESSING_RECORD
    LANDSAT_PRODUCT_ID = "{L1_C2}"
    PROCESSING_LEVEL = "L1TP"
  END_GROUP = LEVEL1_PROCESSING_RECORD
END_GROUP = LANDSAT_METADATA_FILE
END
"""
MTL_C1_TXT = f"""GROUP = L1_METADATA_FILE
  GROUP = METADATA_FILE_INFO
    LANDSAT_PRODUCT_ID = "{L2_C1}"
    COLLECTION_NUMBER = 01
  END_GROUP = METADATA_FILE_INFO
  GROUP = PRODUCT_METADATA
    DATA_TYPE = "L1TP"
    SPACECRAFT_ID = "LANDSAT_8"
    SENSOR_ID = "OLI_TIRS"
  END_GROUP = PRODUCT_METADATA
END_GROUP = L1_METADATA_FILE
END
"""
MTL_PRE_COLLECTION_TXT = f"""GROUP = L1_METADATA_FILE
  GROUP = METADATA_FILE_INFO
    LANDSAT_SCENE_ID = "{PRE_COLLECTION}"
  END_GROUP = METADATA_FILE_INFO
  GROUP = PRODUCT_METADATA
    DATA_TYPE = "L1T"
    SPACECRAFT_ID = "LANDSAT_8"
    SENSOR_ID = "OLI_TIRS"
  END_GROUP = PRODUCT_METADATA
END_GROUP = L1_METADATA_FILE
END
"""


def _mtl_json(level: str, collection: str, spacecraft: str = "LANDSAT_9") -> str:
    return json.dumps(
        {
            "LANDSAT_METADATA_FILE": {
                "PRODUCT_CONTENTS": {"PROCESSING_LEVEL": level, "COLLECTION_NUMBER": collection},
                "IMAGE_ATTRIBUTES": {"SPACECRAFT_ID": spacecraft, "SENSOR_ID": "OLI_TIRS"},
                "LEVEL1_PROCESSING_RECORD": {"PROCESSING_LEVEL": "L1TP"},
            }
        }
    )


def _mtl_xml(level: str, collection: str) -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><LANDSAT_METADATA_FILE><PRODUCT_CONTENTS>"
        f"<PROCESSING_LEVEL>{level}</PROCESSING_LEVEL>"
        f"<COLLECTION_NUMBER>{collection}</COLLECTION_NUMBER></PRODUCT_CONTENTS>"
        "<IMAGE_ATTRIBUTES><SPACECRAFT_ID>LANDSAT_8</SPACECRAFT_ID>"
        "<SENSOR_ID>OLI_TIRS</SENSOR_ID></IMAGE_ATTRIBUTES>"
        "<LEVEL1_PROCESSING_RECORD><PROCESSING_LEVEL>L1TP</PROCESSING_LEVEL>"
        "</LEVEL1_PROCESSING_RECORD></LANDSAT_METADATA_FILE>"
    )


def _named_scene(tmp_path: Path, product_id: str, suffixes=("SR_B4", "SR_B5", "QA_PIXEL")):
    """The test scene, its files renamed ``<product_id>_<suffix>.TIF``."""
    renamed = []
    for path, suffix in zip(_scene(tmp_path), suffixes, strict=True):
        renamed.append(path.rename(tmp_path / f"{product_id}_{suffix}.TIF"))
    return tuple(renamed)


def _bands(*paths: Path) -> dict[str, Path]:
    return dict(zip(["red", "nir", "qa"], paths, strict=True))


def _landsat_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.endswith("landsat_product")]


@pytest.mark.parametrize(
    ("name", "sensor", "level", "collection", "band"),
    [
        (f"{L2_C2}_SR_B4.TIF", "LC08", "L2SP", 2, "SR_B4"),
        (f"{L9_L2_C2}_QA_PIXEL.TIF", "LC09", "L2SP", 2, "QA_PIXEL"),
        (f"{L1_C2}_B4.TIF", "LC08", "L1TP", 2, "B4"),
        (f"{L2_C1}_B5.TIF", "LC08", "L1TP", 1, "B5"),
        (f"{PRE_COLLECTION}_B4.TIF", "LC08", "", 0, ""),
        (f"clipped_{L2_C2.lower()}_sr_b5_accra.tif", "LC08", "L2SP", 2, "SR_B5"),
    ],
)
def test_product_id_in_a_file_name_is_parsed(name, sensor, level, collection, band):
    product = parse_product_id(name)
    assert (product.sensor, product.level, product.collection, product.band) == (
        sensor,
        level,
        collection,
        band,
    )


@pytest.mark.parametrize("name", ["SR_B4.TIF", "red.tif", "LC08_scene_B4.TIF", "B4_LGN00.TIF"])
def test_names_without_a_product_id_give_none(name):
    assert parse_product_id(name) is None


@pytest.mark.parametrize(
    ("file_name", "text", "expected"),
    [
        (f"{L2_C2}_MTL.txt", MTL_C2_L2_TXT, ("LC08", "L2SP", 2)),
        (f"{L2_C1}_MTL.txt", MTL_C1_TXT, ("LC08", "L1TP", 1)),
        (f"{PRE_COLLECTION}_MTL.txt", MTL_PRE_COLLECTION_TXT, ("LC08", "L1T", 0)),
        (f"{L9_L2_C2}_MTL.json", _mtl_json("L2SP", "02"), ("LC09", "L2SP", 2)),
        (f"{L2_C2}_MTL.xml", _mtl_xml("L2SP", "02"), ("LC08", "L2SP", 2)),
    ],
)
def test_mtl_files_in_each_format_are_read(tmp_path, file_name, text, expected):
    path = tmp_path / file_name
    path.write_text(text)
    product = read_mtl(path)
    assert (product.sensor, product.level, product.collection) == expected
    assert product.source == str(path)


def test_demo_and_landsat_9_names_pass_silently(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    (tmp_path / "l8").mkdir()
    (tmp_path / "l9").mkdir()
    check_landsat_bands(_bands(*_named_scene(tmp_path / "l8", L2_C2)))
    check_landsat_bands(_bands(*_named_scene(tmp_path / "l9", L9_L2_C2)))
    assert _landsat_warnings(caplog) == []


@pytest.mark.parametrize(
    ("product_id", "suffixes", "says"),
    [
        (L1_C2, ("B4", "B5", "QA_PIXEL"), "a Level-1 product \\(L1TP"),
        (L2_C1, ("B4", "B5", "BQA"), "a Collection 1 product"),
        (PRE_COLLECTION, ("B4", "B5", "BQA"), "a pre-collection product"),
        ("LE07_L2SP_193056_20200101_20200127_02_T1", ("SR_B3", "SR_B4", "QA_PIXEL"), "LE07"),
    ],
)
def test_wrong_products_named_in_the_file_are_refused(tmp_path, product_id, suffixes, says):
    red, nir, qa = _named_scene(tmp_path, product_id, suffixes)
    with pytest.raises(InputError) as err:
        ndvi_covariates(_tiles(shapely.box(0, 0, 60, 60)), red, nir, qa)
    message = str(err.value)
    assert str(red) in message
    assert re.search(says, message)
    assert "as its name says" in message
    assert "Collection 2 Level-2 surface reflectance bands SR_B4 (red)" in message
    assert "EarthExplorer" in message


@pytest.mark.parametrize(
    ("file_name", "text", "says"),
    [
        (f"{L1_C2}_MTL.txt", MTL_C2_L2_TXT.replace('"L2SP"', '"L1TP"'), "a Level-1 product"),
        (f"{L2_C1}_MTL.txt", MTL_C1_TXT, "a Collection 1 product"),
        (f"{PRE_COLLECTION}_MTL.txt", MTL_PRE_COLLECTION_TXT, "a pre-collection product"),
        (f"{L1_C2}_MTL.json", _mtl_json("L1TP", "02"), "a Level-1 product"),
        (f"{L1_C2}_MTL.xml", _mtl_xml("L1GT", "02"), "a Level-1 product"),
    ],
)
def test_renamed_band_is_refused_when_the_mtl_beside_it_says_so(tmp_path, file_name, text, says):
    red, nir, qa = _scene(tmp_path)  # SR_B4.TIF etc.: no product id in the names
    mtl = tmp_path / file_name
    mtl.write_text(text)
    with pytest.raises(InputError, match=says) as err:
        check_landsat_bands(_bands(red, nir, qa))
    assert str(red) in str(err.value)
    assert f"as its metadata {mtl} says" in str(err.value)


def test_mtl_of_the_named_product_is_read_and_must_agree(tmp_path):
    # The name says Level-2 but the product's MTL says Level-1: the file is refused.
    red, nir, qa = _named_scene(tmp_path, L2_C2)
    (tmp_path / f"{L2_C2}_MTL.txt").write_text(MTL_C2_L2_TXT)
    check_landsat_bands(_bands(red, nir, qa))
    (tmp_path / f"{L2_C2}_MTL.txt").write_text(MTL_C2_L2_TXT.replace('"L2SP"', '"L1TP"'))
    with pytest.raises(InputError, match="Level-1 product"):
        check_landsat_bands(_bands(red, nir, qa))


def test_renamed_level_2_band_with_its_mtl_passes_silently(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, qa = _scene(tmp_path)
    (tmp_path / f"{L2_C2}_MTL.txt").write_text(MTL_C2_L2_TXT)
    product = check_landsat_bands(_bands(red, nir, qa))
    assert (product.sensor, product.level, product.collection) == ("LC08", "L2SP", 2)
    assert _landsat_warnings(caplog) == []


def test_unverifiable_bands_give_one_warning_and_the_same_ndvi(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    tiles = _tiles(shapely.box(0, 0, 120, 120))
    plain = ndvi_covariates(tiles, *_scene(tmp_path))
    warnings = _landsat_warnings(caplog)
    assert len(warnings) == 1
    assert "cannot be verified" in warnings[0]
    assert "SR_B4.TIF" in warnings[0] and "QA_PIXEL.TIF" in warnings[0]
    caplog.clear()
    (tmp_path / "named").mkdir()
    named = ndvi_covariates(tiles, *_named_scene(tmp_path / "named", L2_C2))
    assert _landsat_warnings(caplog) == []
    pd.testing.assert_frame_equal(plain, named)


def test_a_band_given_for_another_role_is_refused(tmp_path):
    red, nir, qa = _named_scene(tmp_path, L2_C2)
    with pytest.raises(InputError, match=r"red band .*SR_B5.TIF is band SR_B5, not SR_B4"):
        check_landsat_bands({"red": nir, "nir": red, "qa": qa})


def test_bands_of_two_products_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    red, nir, _ = _named_scene(tmp_path / "a", L2_C2)
    *_, qa = _named_scene(tmp_path / "b", L2_C2.replace("20200101_20200109", "20200117_20200127"))
    with pytest.raises(InputError, match="different products .*one product"):
        check_landsat_bands(_bands(red, nir, qa))


def test_unreadable_mtl_is_ignored_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    red, nir, qa = _named_scene(tmp_path, L2_C2)
    (tmp_path / f"{L2_C2}_MTL.xml").write_text("<LANDSAT_METADATA_FILE><unclosed>")
    check_landsat_bands(_bands(red, nir, qa))
    assert any("cannot be read" in message for message in _landsat_warnings(caplog))
