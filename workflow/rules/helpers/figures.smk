# The figures' outputs: which figures a city gets (satcluster.figures.catalogue) and
# each figure file marked for the report.
from satcluster.figures.catalogue import city_figure_names


def figure_report(name: str, ext: str, figure: str, subcategory: str):
    """`<city dir>/figures/{name}.{ext}` marked for the report, captioned by report/{name}.rst."""
    return report(
        f"{CITY_DIR}/figures/{name}.{ext}",
        caption=f"../report/{name}.rst",
        category="{city}, {scale} px" if IS_STUDY else "Figures",
        subcategory=subcategory,
        labels={"figure": figure, "format": ext.upper()},
    )


def figure_outputs() -> list:
    """Every figure file of every city (and scale), PNG and PDF (maps are listed apart)."""
    outputs = []
    for city in STUDY.cities.values():
        files = [
            f"{CITY_DIR}/figures/{name}.{ext}"
            for name in city_figure_names(city, CONSENSUS)
            for ext in ("png", "pdf")
        ]
        outputs += expand(files, city=city.name, scale=SCALES) if IS_STUDY else files
    return outputs
