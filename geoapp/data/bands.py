"""The input bands, months and feature groups shared by every dataset geoapp reads.

Band names are fixed (the paper's nine inputs); their order in arrays is :data:`BANDS`. Dynamic bands
vary by year and month; static bands (terrain and soil) do not. Months are the growing season,
March to September (T = 7), numbered 3..9.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoapp.errors import InputError

__all__ = [
    "Band",
    "BANDS",
    "BAND_INFO",
    "DYNAMIC_BANDS",
    "STATIC_BANDS",
    "FEATURE_GROUPS",
    "MONTHS",
    "MONTH_NAMES",
    "check_bands",
    "group_bands",
]


@dataclass(frozen=True)
class Band:
    """One input band.

    Attributes:
        name: short name used everywhere (variable name in the cube).
        long_name: human-readable name for legends.
        units: CF units string.
        static: True when the band does not vary by year or month.
        source: the product the paper took it from (what a real cube should hold).
    """

    name: str
    long_name: str
    units: str
    static: bool
    source: str


BAND_INFO: dict[str, Band] = {
    b.name: b
    for b in (
        Band("ndvi", "Normalized Difference Vegetation Index", "1", False, "MODIS MOD13A3, 1 km monthly"),
        Band("evi", "Enhanced Vegetation Index", "1", False, "MODIS MOD13A3, 1 km monthly"),
        Band("lst_day", "Daytime land surface temperature", "degC", False, "MODIS MOD11A1, monthly mean"),
        Band("lst_night", "Night-time land surface temperature", "degC", False, "MODIS MOD11A1, monthly mean"),
        Band("ppt", "Monthly precipitation", "mm", False, "PRISM, 4 km monthly"),
        Band("elevation", "Elevation above sea level", "m", True, "SRTM GL1 30 m, averaged"),
        Band("sand", "Soil sand fraction", "1", True, "STATSGO, 1 km"),
        Band("silt", "Soil silt fraction", "1", True, "STATSGO, 1 km"),
        Band("clay", "Soil clay fraction", "1", True, "STATSGO, 1 km"),
    )
}
"""Every band by name, in array order."""

BANDS: tuple[str, ...] = tuple(BAND_INFO)
DYNAMIC_BANDS: tuple[str, ...] = tuple(b for b, info in BAND_INFO.items() if not info.static)
STATIC_BANDS: tuple[str, ...] = tuple(b for b, info in BAND_INFO.items() if info.static)

MONTHS: tuple[int, ...] = (3, 4, 5, 6, 7, 8, 9)
"""Growing-season months, March (3) to September (9): T = 7 time steps."""

MONTH_NAMES: dict[int, str] = {3: "Mar", 4: "Apr", 5: "May", 6: "Jun", 7: "Jul", 8: "Aug", 9: "Sep"}

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "VI": ("ndvi", "evi"),
    "LST": ("lst_day", "lst_night"),
    "PPT": ("ppt",),
    "SOIL": ("sand", "silt", "clay"),
    "ELE": ("elevation",),
}
"""The paper's feature groups for ablation (Section IV-G, Figure 7)."""


def check_bands(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return ``names`` as a tuple after checking each is a known band.

    Raises:
        InputError: naming the unknown band(s) and the allowed set.
    """
    unknown = [n for n in names if n not in BAND_INFO]
    if unknown:
        raise InputError(f"unknown band name(s) {unknown!r}; expected some of {list(BANDS)!r}")
    return tuple(names)


def group_bands(group: str) -> tuple[str, ...]:
    """The bands of feature group ``group`` (one of :data:`FEATURE_GROUPS`).

    Raises:
        InputError: if the group is unknown.
    """
    try:
        return FEATURE_GROUPS[group]
    except KeyError:
        raise InputError(f"unknown feature group {group!r}; expected one of {list(FEATURE_GROUPS)!r}") from None
