"""The raster grid every cube lives on: a north-up grid in an equal-area CRS (EPSG:5070 by default).

A :class:`Grid` is the CRS, the pixel size in metres and the outer bounds; it gives the affine
transform, pixel-centre coordinates, longitude/latitude of every pixel, conversions from km to pixels,
and the CF grid-mapping attributes that let rioxarray and QGIS georeference a saved cube.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer

from geoapp.data.args import as_int, as_number, given
from geoapp.errors import CRSError, InputError

__all__ = ["Grid", "ALBERS_CONUS", "MAX_GRID_PIXELS"]

ALBERS_CONUS = "EPSG:5070"
"""NAD83 / Conus Albers: equal-area, metres. The default CRS of every cube."""

MAX_GRID_PIXELS = 200_000_000
"""The most pixels :meth:`Grid.covering` makes (13 states at about 100 m); a cube holds dozens of bands per
year on it, so anything finer would not fit in memory: a resolution that small is a unit mistake."""


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid.

    Attributes:
        crs: CRS of the grid, as an authority string (e.g. ``"EPSG:5070"``).
        resolution_m: pixel size in metres (square pixels).
        xmin, ymin, xmax, ymax: outer bounds in CRS metres; multiples of ``resolution_m``.
    """

    crs: str
    resolution_m: float
    xmin: float
    ymin: float
    xmax: float
    ymax: float

    def __post_init__(self) -> None:
        if not isinstance(self.crs, str):
            raise InputError(f"grid crs must be text such as 'EPSG:5070', got {given(self.crs)}")
        if not (_is_real(self.resolution_m) and self.resolution_m > 0 and math.isfinite(self.resolution_m)):
            raise InputError(f"grid resolution must be a positive number of metres, got {given(self.resolution_m)}")
        for name in ("xmin", "ymin", "xmax", "ymax"):
            if not _is_real(getattr(self, name)):  # NaN is refused below as empty bounds, infinity as too large
                raise InputError(f"grid bound {name} must be a number of metres, got {given(getattr(self, name))}")
        if not (self.xmax > self.xmin and self.ymax > self.ymin):
            raise InputError(
                f"grid bounds are empty: x {self.xmin}..{self.xmax}, y {self.ymin}..{self.ymax} (expected min < max)"
            )
        pixels = (self.xmax - self.xmin) / self.resolution_m * ((self.ymax - self.ymin) / self.resolution_m)
        if not pixels <= MAX_GRID_PIXELS:
            raise InputError(
                f"a grid of {pixels:.3g} pixels ({self.resolution_m:g} m) is more than the {MAX_GRID_PIXELS:,} geoapp "
                "allows (the cube would not fit in memory); is the resolution in metres?"
            )
        try:
            crs = CRS.from_user_input(self.crs)
        except Exception as exc:  # pyproj raises its own CRSError (a RuntimeError)
            raise CRSError(f"unknown CRS {self.crs!r}: {exc}; expected e.g. 'EPSG:5070'") from exc
        for name, span in (("x", self.xmax - self.xmin), ("y", self.ymax - self.ymin)):
            n = span / self.resolution_m
            if abs(n - round(n)) > 1e-6:
                raise InputError(
                    f"grid {name} extent {span:g} m is not a whole number of {self.resolution_m:g} m pixels; "
                    "use Grid.covering() to snap bounds to the resolution"
                )
        if not crs.is_projected:
            raise InputError(f"grid CRS {self.crs!r} is not projected; a cube grid needs metres (e.g. EPSG:5070)")

    @classmethod
    def covering(
        cls,
        bounds: tuple[float, float, float, float],
        resolution_m: float,
        crs: str = ALBERS_CONUS,
        margin_m: float = 0.0,
        min_side_px: int = 1,
    ) -> Grid:
        """The smallest grid aligned to multiples of ``resolution_m`` that covers ``bounds`` plus ``margin_m``.

        Args:
            bounds: (xmin, ymin, xmax, ymax) in ``crs`` metres.
            resolution_m: pixel size in metres.
            crs: grid CRS.
            margin_m: extra space added on every side, in metres.
            min_side_px: the fewest pixels the grid may have across (e.g. one anchor tile).

        Raises:
            InputError: ``resolution_m`` is not a positive number (a bool included), or the grid would
                have more than :data:`MAX_GRID_PIXELS` pixels or fewer than ``min_side_px`` across; checked
                before anything is allocated, the message giving the size and the resolutions that fit.
        """
        if isinstance(resolution_m, bool) or not isinstance(resolution_m, (int, float, np.floating, np.integer)):
            raise InputError(f"grid resolution must be a number of metres, got {type(resolution_m).__name__} {resolution_m!r}")
        r = float(resolution_m)
        if not (r > 0 and math.isfinite(r)):
            raise InputError(f"grid resolution must be a positive number of metres, got {resolution_m!r}")
        if not (
            isinstance(bounds, (tuple, list, np.ndarray))
            and len(bounds) == 4
            and all(_is_real(v) and math.isfinite(v) for v in bounds)
        ):
            raise InputError(f"bounds must be (xmin, ymin, xmax, ymax), four finite numbers of metres, got {given(bounds)}")
        margin_m = as_number(margin_m, "margin_m", "metres", zero_ok=True)
        min_side_px = as_int(min_side_px, "min_side_px", minimum=1)
        x0, y0, x1, y1 = (float(v) for v in bounds)
        span_x, span_y = x1 - x0 + 2 * margin_m, y1 - y0 + 2 * margin_m
        width, height = span_x / r, span_y / r  # floats: no overflow for absurd resolutions
        finest = math.sqrt(span_x * span_y / MAX_GRID_PIXELS)
        coarsest = min(span_x, span_y) / max(1, min_side_px)
        if coarsest >= finest:
            fits = f"expected a resolution of {finest / 1000:.3g} to {coarsest / 1000:.3g} km over this area"
        else:  # no resolution fits: the tile is wider than the largest grid allowed over this area
            fits = (
                f"no resolution fits, since a tile of {min_side_px} px is larger than the grid can be over this area "
                f"(at most {math.floor(min(span_x, span_y) / finest):,} px across); use a smaller tile"
            )
        if not width * height <= MAX_GRID_PIXELS:
            raise InputError(
                f"a grid of {r:g} m pixels would have {width:.3g} x {height:.3g} pixels, more than the {MAX_GRID_PIXELS:,} "
                f"geoapp allows (the cube would not fit in memory); {fits}"
            )
        if math.ceil(min(width, height)) < min_side_px:
            raise InputError(
                f"a grid of {r:g} m pixels would be {math.ceil(height)} x {math.ceil(width)} pixels, fewer than the "
                f"{min_side_px} across that one tile needs; {fits}"
            )
        return cls(
            crs=crs,
            resolution_m=r,
            xmin=math.floor((x0 - margin_m) / r) * r,
            ymin=math.floor((y0 - margin_m) / r) * r,
            xmax=math.ceil((x1 + margin_m) / r) * r,
            ymax=math.ceil((y1 + margin_m) / r) * r,
        )

    # ---- shape and coordinates -------------------------------------------------------------
    @property
    def width(self) -> int:
        """Number of columns (x)."""
        return int(round((self.xmax - self.xmin) / self.resolution_m))

    @property
    def height(self) -> int:
        """Number of rows (y)."""
        return int(round((self.ymax - self.ymin) / self.resolution_m))

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return self.height, self.width

    @property
    def transform(self) -> Affine:
        """Affine transform from (col, row) to CRS (x, y) of the pixel's upper-left corner."""
        r = self.resolution_m
        return Affine(r, 0.0, self.xmin, 0.0, -r, self.ymax)

    @property
    def x(self) -> np.ndarray:
        """Pixel-centre x coordinates in metres, shape (width,), increasing."""
        return self.xmin + (np.arange(self.width) + 0.5) * self.resolution_m

    @property
    def y(self) -> np.ndarray:
        """Pixel-centre y coordinates in metres, shape (height,), decreasing (north-up)."""
        return self.ymax - (np.arange(self.height) + 0.5) * self.resolution_m

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude (degrees, EPSG:4326) of every pixel centre, each shape (height, width)."""
        xx, yy = np.meshgrid(self.x, self.y)
        to_geo = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_geo.transform(xx, yy)
        return np.asarray(lon), np.asarray(lat)

    def km_to_px(self, km: float) -> int:
        """A distance in km as a whole number of pixels on this grid (rounded, at least 1).

        Raises:
            InputError: ``km`` is not a finite positive number (text, a bool, NaN or infinity included).
        """
        if not (_is_real(km) and math.isfinite(km) and km > 0):
            raise InputError(f"distance must be positive km (a finite number), got {given(km)}")
        return max(1, int(round(km * 1000.0 / self.resolution_m)))

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices (int) of points given in grid CRS metres; may fall outside the grid.

        Raises:
            InputError: ``x`` or ``y`` is not numbers, or holds NaN or infinity (no pixel to name).
        """
        x, y = _coordinates(x, "x"), _coordinates(y, "y")
        col = np.floor((x - self.xmin) / self.resolution_m).astype(int)
        row = np.floor((self.ymax - y) / self.resolution_m).astype(int)
        return row, col

    # ---- CF metadata -------------------------------------------------------------------------
    def cf_grid_mapping(self) -> dict[str, object]:
        """CF ``grid_mapping`` variable attributes (with ``crs_wkt`` and ``spatial_ref`` for GDAL)."""
        crs = CRS.from_user_input(self.crs)
        attrs = dict(crs.to_cf())
        wkt = crs.to_wkt()
        attrs["crs_wkt"] = wkt
        attrs["spatial_ref"] = wkt
        attrs["GeoTransform"] = " ".join(str(v) for v in self.transform.to_gdal())
        return attrs

    def to_attrs(self) -> dict[str, object]:
        """Plain attributes that :meth:`from_attrs` reads back."""
        return {
            "grid_crs": self.crs,
            "grid_resolution_m": self.resolution_m,
            "grid_bounds_m": [self.xmin, self.ymin, self.xmax, self.ymax],
        }

    @classmethod
    def from_attrs(cls, attrs: dict[str, object]) -> Grid:
        """Rebuild a grid from :meth:`to_attrs` output (e.g. a cube's global attributes)."""
        try:
            bounds = [float(v) for v in np.atleast_1d(attrs["grid_bounds_m"])]  # type: ignore[arg-type]
            return cls(str(attrs["grid_crs"]), float(attrs["grid_resolution_m"]), *bounds)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"no grid description in the attributes ({exc!r}); expected grid_crs, grid_resolution_m, grid_bounds_m"
            ) from exc


def _is_real(value: object) -> bool:
    """A real number that is not a bool (``True`` is not 1 metre)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _coordinates(values: object, name: str) -> np.ndarray:
    """Coordinates in metres as a float64 array of finite numbers (a scalar, a list or an array)."""
    arr = np.asarray(values, dtype=object if isinstance(values, (str, bytes)) or values is None else None)
    if arr.dtype.kind not in "iuf" or not np.isfinite(arr).all():
        raise InputError(f"{name} must be finite coordinates in metres (a number or an array of them), got {given(values)}")
    return arr.astype(np.float64)
