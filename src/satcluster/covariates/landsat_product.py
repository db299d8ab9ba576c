"""Which Landsat product a band file is, from its name or the MTL metadata beside it.

NDVI needs Landsat 8-9 Collection 2 Level-2 surface reflectance (SR_B4, SR_B5,
QA_PIXEL): Level-1 digital numbers are top-of-atmosphere radiance counts, and
Collection 1 and pre-collection products have other scalings and QA bits, so any
of them would give plausible-looking but wrong NDVI. The product is read from

* the product id in the file name, ``LC08_L2SP_193056_20200101_20200109_02_T1_SR_B4.TIF``
  (sensor and satellite, processing level, path/row, dates, collection, category),
  or a pre-collection scene id such as ``LC80440342015001LGN00_B4.TIF``;
* the MTL file beside the band (``<product id>_MTL.txt``, ``.json`` or ``.xml``, or the
  folder's only MTL when the band was renamed): PROCESSING_LEVEL (DATA_TYPE in
  Collection 1), COLLECTION_NUMBER (none before collections), SPACECRAFT_ID, SENSOR_ID.

A product that is known to be wrong stops the run with an InputError naming the file;
bands whose product cannot be told get one logged warning.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from satcluster.errors import InputError

__all__ = [
    "ACCEPTED_LEVELS",
    "ACCEPTED_SENSORS",
    "EXPECTED_BANDS",
    "LandsatProduct",
    "check_landsat_bands",
    "find_mtl",
    "parse_product_id",
    "read_mtl",
]

log = logging.getLogger(__name__)

# OLI(-TIRS) on Landsat 8 and 9: the band numbers (B4 red, B5 NIR) are the same on both.
ACCEPTED_SENSORS = frozenset({"LC08", "LC09", "LO08", "LO09"})
# Level-2 science products: L2SP (reflectance and temperature) and L2SR (reflectance only).
ACCEPTED_LEVELS = frozenset({"L2SP", "L2SR"})
# Band role -> the Collection 2 Level-2 band name it must be.
EXPECTED_BANDS = {"red": "SR_B4", "nir": "SR_B5", "qa": "QA_PIXEL"}

NEEDED = (
    "NDVI needs Landsat 8-9 Collection 2 Level-2 surface reflectance bands SR_B4 (red), "
    'SR_B5 (NIR) and QA_PIXEL, e.g. from USGS EarthExplorer, dataset "Landsat Collection 2 '
    'Level-2" > "Landsat 8-9 OLI/TIRS C2 L2"'
)

_ID = r"(?<![A-Z0-9])"
_COLLECTION_ID = re.compile(
    _ID + r"(?P<sensor>L[COTEM]\d{2})_(?P<level>L\d[A-Z]{2})_(?P<pathrow>\d{6})_"
    r"(?P<acquired>\d{8})_(?P<processed>\d{8})_(?P<collection>\d{2})_(?P<category>RT|T1|T2)"
    r"(?![A-Z0-9])",
    re.IGNORECASE,
)
# Pre-collection scene id: sensor, satellite digit, path/row, year + day of year, station, version.
_SCENE_ID = re.compile(
    _ID + r"(?P<sensor>L[COTEM])(?P<satellite>\d)(?P<pathrow>\d{6})(?P<acquired>\d{7})"
    r"(?P<station>[A-Z]{3})(?P<version>\d{2})(?![A-Z0-9])",
    re.IGNORECASE,
)
_BAND = re.compile(r"^_(SR_B\d+|ST_B\d+|QA_PIXEL|QA_RADSAT|SR_QA_AEROSOL|B\d+|BQA)", re.IGNORECASE)
_SENSOR_LETTER = {"OLI_TIRS": "C", "OLI": "O", "TIRS": "T", "ETM": "E", "TM": "T", "MSS": "M"}
_MTL_SUFFIXES = ("_MTL.TXT", "_MTL.JSON", "_MTL.XML")


@dataclass(frozen=True)
class LandsatProduct:
    """What a name or MTL file says about a Landsat product.

    ``sensor``: mission code, e.g. "LC08" (OLI/TIRS on Landsat 8), "" when unknown;
    ``level``: processing level, e.g. "L2SP", "L1TP", "" when unknown;
    ``collection``: 2, 1, or 0 for a pre-collection product;
    ``product_id``: the product or scene id, "" when unknown;
    ``band``: the band named after the id in a file name, e.g. "SR_B4", "" when none;
    ``source``: where it was read (the file name, or the MTL file's path).
    """

    sensor: str
    level: str
    collection: int
    product_id: str = ""
    band: str = ""
    source: str = ""

    def problem(self) -> str | None:
        """Why this product cannot give NDVI, or None when it is the one needed."""
        if self.collection == 0:
            return "a pre-collection product (retired by USGS; other scaling and QA bits)"
        if self.collection == 1:
            return "a Collection 1 product (retired by USGS; other scaling and QA bits)"
        if self.collection != 2:
            return f"Collection {self.collection}, which this version does not know"
        if self.level and self.level.upper().startswith("L1"):
            return (
                f"a Level-1 product ({self.level}: top-of-atmosphere digital numbers, not "
                "surface reflectance)"
            )
        if self.level and self.level.upper() not in ACCEPTED_LEVELS:
            return f"processing level {self.level}, not Level-2 surface reflectance"
        if self.sensor and self.sensor.upper() not in ACCEPTED_SENSORS:
            return (
                f"from {self.sensor} (not Landsat 8-9 OLI, whose band numbers SR_B4/SR_B5 are "
                "red/NIR)"
            )
        return None


def parse_product_id(name: str) -> LandsatProduct | None:
    """The product a file name's Landsat product id or pre-collection scene id gives, or None."""
    base = Path(name).name
    match = _COLLECTION_ID.search(base)
    if match:
        rest = _BAND.match(base[match.end() :])
        return LandsatProduct(
            sensor=match["sensor"].upper(),
            level=match["level"].upper(),
            collection=int(match["collection"]),
            product_id=match[0].upper(),
            band=rest[1].upper() if rest else "",
            source=base,
        )
    match = _SCENE_ID.search(base)
    if match:
        # Pre-collection ids carry no processing level; they are refused whatever it was.
        return LandsatProduct(
            sensor=f"{match['sensor'].upper()}0{match['satellite']}",
            level="",
            collection=0,
            product_id=match[0].upper(),
            source=base,
        )
    return None


def _txt_fields(text: str) -> Iterator[tuple[str, str, str]]:
    """(group, key, value) of an ODL-style MTL.txt, innermost group named."""
    groups: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip().upper(), value.strip().strip('"')
        if key == "GROUP":
            groups.append(value.upper())
        elif key == "END_GROUP":
            if groups:
                groups.pop()
        else:
            yield (groups[-1] if groups else ""), key, value


def _json_fields(node: object, group: str = "") -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _json_fields(value, str(key).upper())
            else:
                yield group, str(key).upper(), str(value)
    elif isinstance(node, list):
        for item in node:
            yield from _json_fields(item, group)


def _xml_fields(element: ET.Element, group: str = "") -> Iterator[tuple[str, str, str]]:
    for child in element:
        tag = child.tag.rpartition("}")[2].upper()
        if len(child):
            yield from _xml_fields(child, tag)
        else:
            yield group, tag, (child.text or "").strip()


def _mtl_fields(path: Path) -> dict[str, str]:
    """Key -> value of an MTL file; the product's own groups win over the LEVEL1_ records.

    A Collection 2 Level-2 MTL repeats the Level-1 source's PROCESSING_LEVEL (L1TP) in
    LEVEL1_PROCESSING_RECORD, so the first value outside LEVEL1_ groups is kept.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix == ".json":
        fields = _json_fields(json.loads(text))
    elif suffix == ".xml":
        fields = _xml_fields(ET.fromstring(text))
    else:
        fields = _txt_fields(text)
    own: dict[str, str] = {}
    level1: dict[str, str] = {}
    for group, key, value in fields:
        target = level1 if group.startswith("LEVEL1_") else own
        target.setdefault(key, value)
    return {**level1, **own}


def read_mtl(path: str | Path) -> LandsatProduct | None:
    """The product an MTL file (.txt, .json or .xml) describes, or None if it says nothing.

    Unreadable files raise OSError or ValueError (ET.ParseError and JSONDecodeError are
    ValueErrors or SyntaxErrors); ``check_landsat_bands`` turns them into a warning.
    """
    path = Path(path)
    fields = _mtl_fields(path)
    level = fields.get("PROCESSING_LEVEL") or fields.get("DATA_TYPE") or ""
    collection = fields.get("COLLECTION_NUMBER", "")
    spacecraft = fields.get("SPACECRAFT_ID", "")
    if not (level or collection or spacecraft):
        return None
    product_id = fields.get("LANDSAT_PRODUCT_ID") or fields.get("LANDSAT_SCENE_ID") or ""
    sensor = ""
    satellite = re.search(r"(\d+)$", spacecraft)
    letter = _SENSOR_LETTER.get(fields.get("SENSOR_ID", "").upper().replace("+", ""))
    if satellite and letter:
        sensor = f"L{letter}{int(satellite[1]):02d}"
    return LandsatProduct(
        sensor=sensor,
        level=level.upper(),
        collection=int(collection) if collection.strip().isdigit() else 0,
        product_id=product_id.upper(),
        source=str(path),
    )


def find_mtl(band_path: str | Path, product_id: str = "") -> Path | None:
    """The MTL file beside a band: ``<product_id>_MTL.txt/.json/.xml`` (in that order of
    preference), or without a product id the folder's MTL when all its MTLs are of one
    product; None when there is none."""
    folder = Path(band_path).parent
    try:
        names = [p.name for p in folder.iterdir() if p.name.upper().endswith(_MTL_SUFFIXES)]
    except OSError:
        return None
    if not product_id:
        stems = {name.upper().rpartition("_MTL.")[0] for name in names}
        if len(stems) != 1:
            return None
        product_id = stems.pop()
    for suffix in _MTL_SUFFIXES:
        for name in names:
            if name.upper() == product_id.upper() + suffix:
                return folder / name
    return None


def _refuse(role: str, path: str | Path, product: LandsatProduct, problem: str) -> InputError:
    told = "its name" if product.source == Path(path).name else f"its metadata {product.source}"
    return InputError(
        f"Landsat {role} band {path} is {problem}, as {told} says; {NEEDED}, and set "
        f"`inputs.landsat.{role}` to the {EXPECTED_BANDS[role]} file."
    )


def _products_of(path: str | Path) -> list[LandsatProduct]:
    """What the band's name and its MTL file say (0, 1 or 2 products)."""
    named = parse_product_id(Path(path).name)
    found = [named] if named else []
    mtl = find_mtl(path, named.product_id if named else "")
    if mtl is not None:
        try:
            described = read_mtl(mtl)
        except (OSError, ValueError, SyntaxError) as err:
            log.warning("Landsat metadata %s cannot be read (%s); it is ignored", mtl, err)
            described = None
        if described is not None:
            found.append(described)
    return found


def check_landsat_bands(paths: Mapping[str, str | Path]) -> LandsatProduct | None:
    """Refuse Landsat bands that are not Landsat 8-9 Collection 2 Level-2 SR_B4/SR_B5/QA_PIXEL.

    ``paths`` maps a role (``red``, ``nir``, ``qa``) to its file. InputError when a
    name or MTL says Level-1, Collection 1, pre-collection or another satellite, when a
    name's band is not the role's (SR_B5 given as red), or when the bands' product ids
    differ (bands of two scenes); one warning when no band's product can be told.
    Returns the product of the first band whose product is known, else None.
    """
    unverified: list[str] = []
    ids: dict[str, str] = {}
    first: LandsatProduct | None = None
    for role, path in paths.items():
        products = _products_of(path)
        if not products:
            unverified.append(str(path))
            continue
        for product in products:
            problem = product.problem()
            if problem:
                raise _refuse(role, path, product, problem)
        named = products[0] if products[0].source == Path(path).name else None
        expected = EXPECTED_BANDS.get(role)
        if named and named.band and expected and named.band != expected:
            raise InputError(
                f"Landsat {role} band {path} is band {named.band}, not {expected}; set "
                f"`inputs.landsat.{role}` to the scene's {expected} file."
            )
        if products[0].product_id:
            ids[role] = products[0].product_id
        first = first or products[0]
    if len(set(ids.values())) > 1:
        listed = ", ".join(f"{role} {pid}" for role, pid in ids.items())
        raise InputError(
            f"the Landsat bands come from different products ({listed}); give SR_B4, SR_B5 "
            "and QA_PIXEL of one product (one date) under `inputs.landsat`."
        )
    if unverified:
        log.warning(
            "the Landsat product of %s cannot be verified (no product id such as "
            "LC08_L2SP_..._02_T1 in the file name, no MTL file beside it); make sure it is "
            "Landsat 8-9 Collection 2 Level-2 surface reflectance, or NDVI will be wrong",
            ", ".join(unverified),
        )
    return first
