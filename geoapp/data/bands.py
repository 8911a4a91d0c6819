"""The input bands, months and feature groups shared by every dataset geoapp reads.

Band names are fixed (the paper's nine inputs); their order in arrays is :data:`BANDS`. Dynamic bands
vary by year and month; static bands (terrain and soil) do not. Months are the growing season,
March to September (T = 7), numbered 3..9.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoapp.data.args import given
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
        InputError: ``names`` is not a non-empty list or tuple of band names (None, a number, a single
            name as text), names a band twice, or names unknown band(s) (the message gives the allowed set).
    """
    if not isinstance(names, (list, tuple)):
        raise InputError(f"bands must be a list or tuple of band names such as ['ndvi', 'evi'], got {given(names)}")
    if not names:
        raise InputError(f"bands is empty; expected some of {list(BANDS)!r}")
    unknown = [n for n in names if not isinstance(n, str) or n not in BAND_INFO]
    if unknown:
        raise InputError(f"unknown band name(s) {unknown!r}; expected some of {list(BANDS)!r}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"band(s) {twice!r} named more than once in {list(names)!r}; name each band once")
    return tuple(names)


def group_bands(group: str) -> tuple[str, ...]:
    """The bands of feature group ``group`` (one of :data:`FEATURE_GROUPS`).

    Raises:
        InputError: if the group is unknown (or not text).
    """
    if not isinstance(group, str) or group not in FEATURE_GROUPS:
        raise InputError(f"unknown feature group {group!r}; expected one of {list(FEATURE_GROUPS)!r}")
    return FEATURE_GROUPS[group]
