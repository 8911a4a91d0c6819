"""One input band of a cube as a map image: what the model sees, placed under the county outlines.

The cube lives on a projected grid (:class:`geoapp.data.grid.Grid`, EPSG:5070 by default, metres);
Leaflet draws in Web Mercator (EPSG:3857) and stretches an image overlay linearly between two
latitude/longitude corners. So :func:`band_image` reprojects the band's slice onto a north-up
EPSG:3857 grid (rasterio's warp, nearest neighbour: every map pixel shows one cube pixel's value)
and reports that grid's corners in degrees (EPSG:4326): stretched between them, every pixel lands
where it belongs. :func:`tile_outline` gives the outline, in degrees, of a square of cube pixels
such as a county's anchor tile (its edges densified, since a straight EPSG:5070 edge is curved in
degrees).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import xarray as xr
from affine import Affine
from PIL import Image
from plotly.colors import sample_colorscale
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject

from geoapp.data.bands import BAND_INFO, MONTH_NAMES, MONTHS
from geoapp.data.grid import Grid
from geoapp.errors import InputError
from geoapp.viz.colors import ColorScale, sequential_scale

__all__ = ["BAND_COLORS", "BandImage", "band_image", "tile_outline", "WEB_MERCATOR"]

WEB_MERCATOR = "EPSG:3857"
"""The CRS Leaflet draws in."""
MAX_SIDE_PX = 1024
"""The longest side of a band image; a finer cube is resampled to it (the payload stays small)."""

BAND_COLORS: dict[str, str] = {
    "ndvi": "Greens",
    "evi": "Greens",
    "lst_day": "YlOrRd",
    "lst_night": "YlOrRd",
    "ppt": "Blues",
    "elevation": "Earth",
    "sand": "YlOrBr",
    "silt": "YlOrBr",
    "clay": "YlOrBr",
}
"""Plotly colour scale of each band's image."""


@dataclass(frozen=True)
class BandImage:
    """A band slice reprojected for Leaflet, as a palette image.

    Attributes:
        pixels: (height, width) uint8 on a north-up EPSG:3857 grid: 0 where the cube has no value
            (transparent), else 1..255, the colour's index along the scale.
        palette: (256, 3) uint8 RGB colour of each index (index 0 unused).
        bounds: [[south, west], [north, east]] of the image's outer edges, degrees (EPSG:4326).
        scale: the colour scale of the pixels (label with the band's units).
        title: what the image shows, e.g. ``"Monthly precipitation, Aug 2012"``.
    """

    pixels: np.ndarray
    palette: np.ndarray
    bounds: list[list[float]]
    scale: ColorScale
    title: str

    def rgba(self) -> np.ndarray:
        """(height, width, 4) uint8 colours; alpha 0 where there is no value, else 255."""
        out = np.zeros((*self.pixels.shape, 4), dtype=np.uint8)
        out[..., :3] = self.palette[self.pixels]
        out[..., 3] = np.where(self.pixels > 0, 255, 0)
        return out

    def png_data_url(self) -> str:
        """The image as a ``data:image/png;base64,...`` URL: an 8-bit palette PNG, index 0 transparent."""
        img = Image.fromarray(self.pixels, mode="P")
        img.putpalette(self.palette.reshape(-1).tolist())
        buf = io.BytesIO()
        img.save(buf, format="PNG", transparency=0)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def band_image(cube: xr.Dataset, grid: Grid, band: str, year: int, month: int) -> BandImage:
    """Band ``band`` of ``cube`` for ``year`` and ``month`` (static bands: any month), as a Web Mercator image.

    Args:
        cube: a cube (:mod:`geoapp.data.cube`) on ``grid``.
        grid: the cube's grid (its CRS and transform place the pixels).
        band: a band name (:data:`geoapp.data.bands.BANDS`).
        year: a year the cube holds.
        month: a growing-season month, 3..9.

    The colours span the 2nd..98th percentile of the slice's valid pixels (:func:`sequential_scale`).

    Raises:
        InputError: an unknown band, a month outside March..September, a year the cube lacks, or a
            slice with no valid pixel.
    """
    if band not in BAND_INFO:
        raise InputError(f"unknown band {band!r}; expected one of {list(BAND_INFO)!r}")
    if month not in MONTHS:
        raise InputError(f"month {month!r} is outside the growing season; expected one of {list(MONTHS)!r}")
    info = BAND_INFO[band]
    da = cube[band]
    if not info.static:
        years = [int(y) for y in cube["year"].values]
        if int(year) not in years:
            raise InputError(f"year {year!r} is not in the cube; it holds {min(years)}..{max(years)}")
        da = da.sel(year=int(year), month=int(month))
    values = np.asarray(da.values, dtype=np.float32)
    if values.shape != grid.shape:
        raise InputError(f"band {band!r} has shape {values.shape}, not the grid's {grid.shape}; is it the cube's grid?")
    if not np.isfinite(values).any():
        raise InputError(f"band {band!r} has no valid pixel in {MONTH_NAMES[month]} {year}")
    units = "" if info.units == "1" else f" ({info.units})"
    when = "static" if info.static else f"{MONTH_NAMES[month]} {year}"
    scale = sequential_scale(values, f"{info.long_name}{units}", name=BAND_COLORS.get(band, "Viridis"))
    if scale.vmax - scale.vmin < 1e-6 or band in ("ndvi", "evi", "sand", "silt", "clay"):
        lo, hi = np.nanpercentile(values, [2, 98])  # fractions: floor/ceil to whole units would span 0..1
        scale = ColorScale(scale.name, float(lo), float(max(hi, lo + 1e-6)), scale.label)
    merc, bounds = _to_web_mercator(values, grid)
    pixels, palette = _colorize(merc, scale)
    return BandImage(pixels, palette, bounds, scale, f"{info.long_name}, {when}")


def _to_web_mercator(values: np.ndarray, grid: Grid) -> tuple[np.ndarray, list[list[float]]]:
    """``values`` (grid.shape, grid CRS) warped onto a north-up EPSG:3857 grid, and that grid's corners in degrees."""
    h, w = grid.shape
    src_crs, dst_crs = CRS.from_user_input(grid.crs), CRS.from_user_input(WEB_MERCATOR)
    transform, width, height = calculate_default_transform(
        src_crs, dst_crs, w, h, left=grid.xmin, bottom=grid.ymin, right=grid.xmax, top=grid.ymax
    )
    shrink = max(width, height) / MAX_SIDE_PX
    if shrink > 1:  # coarser pixels over the same extent
        width, height = int(np.ceil(width / shrink)), int(np.ceil(height / shrink))
        transform = transform @ Affine.scale(shrink, shrink)
    out = np.full((height, width), np.nan, dtype=np.float32)
    reproject(
        values,
        out,
        src_transform=grid.transform,
        src_crs=src_crs,
        src_nodata=np.nan,
        dst_transform=transform,
        dst_crs=dst_crs,
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
    )
    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    to_deg = Transformer.from_crs(WEB_MERCATOR, "EPSG:4326", always_xy=True)
    (lon_w, lon_e), (lat_s, lat_n) = to_deg.transform([west, east], [south, north])
    return out, [[float(lat_s), float(lon_w)], [float(lat_n), float(lon_e)]]


def _colorize(values: np.ndarray, scale: ColorScale) -> tuple[np.ndarray, np.ndarray]:
    """Palette indices of ``values`` (1..255 along ``scale``, 0 for NaN) and the (256, 3) palette."""
    stops = sample_colorscale(scale.name, np.linspace(0, 1, 255).tolist(), colortype="tuple")
    rgb = np.asarray(stops, dtype=float)
    rgb = rgb * 255 if rgb.max() <= 1.0 else rgb  # plotly gives 0..1 for some scales, 0..255 for others
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[1:] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    span = scale.vmax - scale.vmin if scale.vmax > scale.vmin else 1.0
    finite = np.isfinite(values)
    t = np.clip((np.where(finite, values, scale.vmin) - scale.vmin) / span, 0.0, 1.0)
    pixels = np.where(finite, 1 + np.round(t * 254), 0).astype(np.uint8)
    return pixels, palette


def tile_outline(grid: Grid, row0: int, col0: int, tile_px: int, per_edge: int = 8) -> list[tuple[float, float]]:
    """The closed outline of the ``tile_px`` square of grid pixels whose upper-left pixel is (row0, col0).

    Returns:
        (lat, lon) degree pairs (EPSG:4326), ``4 * per_edge + 1`` of them, first == last: the square's
        edges in the grid CRS, each cut into ``per_edge`` steps before transforming.
    """
    r = grid.resolution_m
    x0, x1 = grid.xmin + col0 * r, grid.xmin + (col0 + tile_px) * r
    y1, y0 = grid.ymax - row0 * r, grid.ymax - (row0 + tile_px) * r
    t = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(per_edge, x1), x1 - (x1 - x0) * t, np.full(per_edge, x0), [x0]])
    ys = np.concatenate([np.full(per_edge, y1), y1 - (y1 - y0) * t, np.full(per_edge, y0), y0 + (y1 - y0) * t, [y1]])
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return [(float(a), float(o)) for a, o in zip(lat, lon, strict=True)]
