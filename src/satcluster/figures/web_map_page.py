"""The map page's parts: Leaflet and the map's own script inlined, and its folium elements.

Leaflet's JavaScript and CSS come from the ``django-js-lib-leaflet`` wheel (the official
Leaflet 1.9.4 build, BSD-2), its images as data URIs, so the page needs no network; the
map's script and style are ``assets/web_map.js`` and ``assets/web_map.css``. The elements
write the few lines of script that hand each k layer and the legend to web_map.js.
"""

from __future__ import annotations

import base64
import re
from importlib import resources

import folium
from branca.element import Element, MacroElement
from folium.map import Layer
from jinja2 import Template

from satcluster.errors import InputError

__all__ = [
    "ClusterLayer",
    "ClusterLegend",
    "FitTiles",
    "OfflineMap",
    "RawHTML",
    "deterministic_ids",
    "leaflet_assets",
    "map_assets",
]


# --- JavaScript and CSS, inlined -------------------------------------------------------
def leaflet_assets() -> tuple[str, str]:
    """(leaflet.js, leaflet.css with its images as data URIs) from the installed wheel."""
    try:
        static = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
        script = (static / "leaflet.js").read_text(encoding="utf-8")
        css = (static / "leaflet.css").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise InputError(
            "the web map needs Leaflet's files from the Python package django-js-lib-leaflet "
            f"({err}); install the project again (`make install`) or "
            "`pip install django-js-lib-leaflet`."
        ) from None

    def inline_image(match: re.Match) -> str:
        data = (static / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode()})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline_image, css)
    # A literal "</script>" inside inline JS would end the tag early.
    return script.replace("</script", "<\\/script"), css


def map_assets() -> tuple[str, str]:
    """(web_map.js, web_map.css) from the package: the map's own script and style.

    The script draws a k layer on a canvas, opens popups on click and keeps the legend on
    the layer shown; it reads the ``satclusterMeta`` and ``satclusterTiles`` variables
    that ``build_web_map`` writes before it, and the chunk scripts beside the page.
    """
    assets = resources.files("satcluster.figures") / "assets"
    script = (assets / "web_map.js").read_text(encoding="utf-8")
    css = (assets / "web_map.css").read_text(encoding="utf-8")
    return script, css


class RawHTML(Element):
    """HTML inserted as is: Element(text) would compile megabytes of data as a Jinja template."""

    def __init__(self, html: str):
        super().__init__()
        self._name = "RawHTML"
        self.html = html

    def render(self, **kwargs) -> str:
        return self.html


class OfflineMap(folium.Map):
    """folium.Map without CDN links: Leaflet is inlined by ``build_web_map``."""

    default_js: list = []
    default_css: list = []


# --- map elements ---------------------------------------------------------------------
class ClusterLayer(Layer):
    """The tiles coloured by their clusters at one k (a base layer of the LayerControl)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = satclusterLayer({{ this.k_index }});
        {% endmacro %}
        """
    )

    def __init__(self, k_index: int, name: str, show: bool):
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "ClusterLayer"
        self.k_index = k_index


class FitTiles(MacroElement):
    """Fit the view to the tiles before any layer is added, so the first draw is the one shown."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.fitBounds({{ this.bounds }}, {animate: false});
        {% endmacro %}
        """
    )

    def __init__(self, south: float, west: float, north: float, east: float):
        super().__init__()
        self._name = "FitTiles"
        self.bounds = [[south, west], [north, east]]


class ClusterLegend(MacroElement):
    """Legend of the layer shown (names and shares), updated when the layer changes."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            satclusterLegend({{ this._parent.get_name() }}, {{ this.k_index }});
        {% endmacro %}
        """
    )

    def __init__(self, k_index: int):
        super().__init__()
        self._name = "ClusterLegend"
        self.k_index = k_index


def deterministic_ids(element: Element, counter: list[int] | None = None) -> None:
    """Replace folium's random element ids by a counter so the same input gives the same file."""
    counter = counter if counter is not None else [0]
    element._id = f"{counter[0]:08x}"
    counter[0] += 1
    for child in element._children.values():
        deterministic_ids(child, counter)
