"""Images users bring: size-limited, validated, decoded to 8-bit RGB, with their place when a GeoTIFF says it.

:func:`read_image_upload` takes the uploaded bytes and returns an :class:`UploadedImage`:

- PNG, JPEG, WebP, GIF, BMP or TIFF; anything else is refused with a reason;
- the byte size is checked before anything is parsed, the pixel count from the header before any
  pixel is decoded (a small "decompression bomb" file is never inflated);
- grey, palette, CMYK, 16-bit, float and multi-band images are converted to 8-bit RGB, and each
  conversion is named in ``notes`` (a grey image has no colours, which the geolocation relies on: its
  note says accuracy will drop);
- a GeoTIFF (read with rasterio) with a coordinate reference system gives the image's centre
  (lat, lon, WGS84 degrees) and its ground width (km, across the centre row), so the app can show
  the true place and the error of a prediction.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from geoapp.data.args import as_int, given
from geoapp.data.geodesy import haversine_km
from geoapp.errors import InputError

__all__ = ["UploadedImage", "read_image_upload", "validate_image_upload"]

_UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_GREY_NOTE = "a grey image (one band): geolocation relies on colour, so expect lower accuracy"


@dataclass(frozen=True)
class UploadedImage:
    """A decoded upload.

    Attributes:
        rgb: (H, W, 3) uint8 RGB pixels, row 0 at the top.
        notes: the conversions made on the way, in words (empty for a plain 8-bit RGB image).
        centre: (lat, lon) WGS84 degrees of the image centre, from a GeoTIFF's georeferencing; else None.
        width_km: ground width of the image across its centre row, km (georeferenced only); else None.
        crs: the GeoTIFF's coordinate reference system as text, or None.
    """

    rgb: np.ndarray
    notes: tuple[str, ...] = ()
    centre: tuple[float, float] | None = None
    width_km: float | None = None
    crs: str | None = None


def _check_limits(data: object, max_bytes: object, max_pixels: object) -> tuple[bytes, int, int]:
    """The upload as bytes and the two limits as positive ints, or an InputError naming what is wrong."""
    max_bytes = as_int(max_bytes, "max_bytes", minimum=1)
    max_pixels = as_int(max_pixels, "max_pixels", minimum=1)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise InputError(f"the upload must be bytes, got {given(data)}")
    if len(data) == 0:
        raise InputError("the uploaded file is empty")
    if len(data) > max_bytes:
        raise InputError(
            f"the uploaded file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB. "
            "Resize or recompress the image and try again."
        )
    return data, max_bytes, max_pixels


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"the uploaded image has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise InputError(
            f"the uploaded image is {width} x {height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:.1f} megapixels (a file this small that declares "
            "so many pixels may be a decompression bomb). Resize the image and try again."
        )


def read_image_upload(data: bytes, max_bytes: int = 5_000_000, max_pixels: int = 20_000_000) -> UploadedImage:
    """Check and decode an uploaded image (see the module docstring).

    Raises:
        InputError: data that is not bytes, empty, over ``max_bytes``; not an image of an accepted
            format; a header declaring more than ``max_pixels`` pixels; a truncated or corrupt image.
    """
    data, max_bytes, max_pixels = _check_limits(data, max_bytes, max_pixels)
    if data[:4] in _TIFF_MAGIC:
        tiff = _read_geotiff(data, max_pixels)
        if tiff is not None:
            return tiff
    return _read_with_pillow(data, max_pixels)


def validate_image_upload(data: bytes, max_bytes: int = 5_000_000, max_pixels: int = 20_000_000) -> np.ndarray:
    """The (H, W, 3) uint8 RGB pixels of an upload (:func:`read_image_upload` without the notes and place)."""
    return read_image_upload(data, max_bytes=max_bytes, max_pixels=max_pixels).rgb


# --------------------------------------------------------------------------------------------------
# Pillow: PNG, JPEG, WebP, GIF, BMP and plain TIFF
# --------------------------------------------------------------------------------------------------


def _read_with_pillow(data: bytes, max_pixels: int) -> UploadedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_UPLOAD_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"the uploaded image is too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise InputError(
            "the uploaded file is not an image geoapp can read (expected PNG, JPEG, WebP, GIF, BMP or TIFF)"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"the uploaded image is corrupt: {exc}") from exc
    with im:
        _check_pixels(im.size[0], im.size[1], max_pixels)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.seek(0)
                im.load()
                frame = ImageOps.exif_transpose(im)
                rgb, notes = _to_rgb(frame)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputError(f"the uploaded image is too large to decode safely ({exc})") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InputError(f"the uploaded image is truncated or corrupt: {exc}") from exc
    return UploadedImage(np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)), tuple(notes))


def _stretch(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Any-range numbers to uint8 by a linear stretch of their 2nd to 98th percentile (NaN and invalid -> 0)."""
    arr = values.astype(np.float64)
    ok = np.isfinite(arr) if valid is None else (valid & np.isfinite(arr))
    if not ok.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = np.percentile(arr[ok], [2.0, 98.0])
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.clip((np.nan_to_num(arr, nan=lo) - lo) * scale, 0.0, 255.0)
    out[~ok] = 0.0
    return np.rint(out).astype(np.uint8)


def _to_rgb(im: Image.Image) -> tuple[Image.Image, list[str]]:
    """RGB, with transparency composited on white and high-bit-depth values stretched to 8 bits; the notes."""
    notes: list[str] = []
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        notes.append(f"{'floating-point' if im.mode == 'F' else '16-bit'} values stretched to 8 bits (2nd-98th percentile)")
        im = Image.fromarray(_stretch(np.asarray(im)), mode="L")
    if im.mode in ("L", "LA", "1"):
        notes.append(_GREY_NOTE)
    elif im.mode == "CMYK":
        notes.append("CMYK colours converted to RGB")
    elif im.mode in ("P", "PA"):
        notes.append("palette colours converted to RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        notes.append("transparent pixels composited on white")
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB"), notes
    return im.convert("RGB"), notes


# --------------------------------------------------------------------------------------------------
# GeoTIFF (rasterio): bands, bit depth and georeferencing
# --------------------------------------------------------------------------------------------------


def _read_geotiff(data: bytes, max_pixels: int) -> UploadedImage | None:
    """A TIFF read with rasterio (any band count and bit depth, georeferencing); None to let Pillow try."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.MemoryFile(data) as mem, mem.open() as src:
                _check_pixels(src.width, src.height, max_pixels)
                bands, notes = _rgb_bands(src)
                raw = src.read(indexes=bands, masked=True)  # (C, H, W)
                centre, width_km = _georeference(src)
                crs = src.crs.to_string() if src.crs else None
    except InputError:
        raise
    except RasterioIOError:
        return None  # not a TIFF rasterio can open: Pillow gives the reason
    except (ValueError, OSError) as exc:
        raise InputError(f"the uploaded TIFF is truncated or corrupt: {exc}") from exc
    valid = ~np.ma.getmaskarray(raw).any(axis=0)
    values = np.ma.getdata(raw)
    if values.dtype == np.uint8:
        rgb = values
    else:
        notes.append(f"{values.dtype} values stretched to 8 bits (2nd-98th percentile)")
        rgb = _stretch(values, np.broadcast_to(valid, values.shape))
    if rgb.shape[0] == 1:
        rgb = np.repeat(rgb, 3, axis=0)
    rgb = np.ascontiguousarray(np.moveaxis(rgb, 0, -1), dtype=np.uint8)
    if not valid.all():
        notes.append(f"{int((~valid).sum())} no-data pixels shown black")
    return UploadedImage(rgb, tuple(notes), centre, width_km, crs)


def _rgb_bands(src) -> tuple[list[int], list[str]]:
    """The 1-based band indexes to read as R, G, B (or one grey band), and notes on the choice."""
    from rasterio.enums import ColorInterp

    interp = list(src.colorinterp)
    if src.count >= 3:
        named = [interp.index(c) + 1 for c in (ColorInterp.red, ColorInterp.green, ColorInterp.blue) if c in interp]
        if len(named) == 3:
            return named, ([f"{src.count} bands: the red, green and blue ones used"] if src.count > 3 else [])
        return [1, 2, 3], [f"{src.count} bands without colour names: bands 1, 2, 3 used as red, green, blue"]
    notes = [_GREY_NOTE] if src.count == 1 else [f"{src.count} bands: band 1 used as grey; " + _GREY_NOTE]
    return [1], notes


def _georeference(src) -> tuple[tuple[float, float] | None, float | None]:
    """Centre (lat, lon) WGS84 degrees and width (km, across the centre row) of a georeferenced raster."""
    if src.crs is None or src.transform.is_identity:
        return None, None
    from rasterio.warp import transform as warp

    w, h = src.width, src.height
    cols = [w / 2.0, 0.0, float(w)]
    rows = [h / 2.0] * 3
    xs, ys = zip(*(src.transform @ (c, r) for c, r in zip(cols, rows, strict=True)), strict=True)
    lon, lat = warp(src.crs, "EPSG:4326", list(xs), list(ys))
    if not all(math.isfinite(v) for v in (*lon, *lat)) or not all(-90.0 <= v <= 90.0 for v in lat):
        return None, None
    centre = (float(lat[0]), float((lon[0] + 180.0) % 360.0 - 180.0))
    width = float(haversine_km(lat[1], lon[1], lat[2], lon[2]))
    return centre, width if width > 0 else None
