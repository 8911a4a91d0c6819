"""Uploads: formats, bit depths and band counts converted (and named), bombs refused, GeoTIFF places read."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from geoapp.data.image_upload import read_image_upload, validate_image_upload
from geoapp.errors import InputError


def _geotiff(arr: np.ndarray, crs: str | None = "EPSG:4326", transform=None, **kw) -> bytes:
    bands, h, w = arr.shape
    transform = transform if transform is not None else from_origin(10.0, 50.0, 0.05, 0.05)
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=w, height=h, count=bands, dtype=arr.dtype, crs=crs, transform=transform, **kw) as dst:
            dst.write(arr)
        return mem.read()


def _saved(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def test_geotiff_in_degrees_gives_its_centre_and_width():
    arr = np.random.default_rng(0).integers(0, 255, (3, 64, 80)).astype(np.uint8)
    up = read_image_upload(_geotiff(arr))  # 80 x 0.05 deg wide, from 10 E; 64 x 0.05 deg tall, from 50 N
    assert up.rgb.shape == (64, 80, 3) and up.rgb.dtype == np.uint8
    np.testing.assert_array_equal(up.rgb, np.moveaxis(arr, 0, -1))
    assert up.centre == pytest.approx((48.4, 12.0))
    assert up.width_km == pytest.approx(4.0 * 111.195 * np.cos(np.radians(48.4)), rel=0.01)
    assert up.crs == "EPSG:4326" and up.notes == ()


def test_projected_geotiff_is_placed_through_its_crs():
    arr = np.zeros((3, 40, 40), np.uint8)
    data = _geotiff(arr, crs="EPSG:32633", transform=from_origin(400_000, 5_100_000, 5000, 5000))  # UTM 33N, 200 km
    up = read_image_upload(data)
    lat, lon = up.centre
    assert 44.0 < lat < 46.0 and 13.0 < lon < 15.0  # near 45 N, 14 E
    assert up.width_km == pytest.approx(200.0, rel=0.02)


def test_sixteen_bit_multiband_geotiff_is_stretched_and_named():
    arr = np.random.default_rng(1).integers(0, 4000, (4, 32, 32)).astype(np.uint16)
    up = read_image_upload(_geotiff(arr))
    assert up.rgb.dtype == np.uint8 and up.rgb.shape == (32, 32, 3)
    assert up.rgb.min() == 0 and up.rgb.max() == 255  # 2nd-98th percentile stretch
    assert any("bands 1, 2, 3" in n for n in up.notes) and any("stretched to 8 bits" in n for n in up.notes)


def test_grey_geotiff_without_crs_has_no_place_and_warns_of_accuracy():
    arr = np.random.default_rng(2).random((1, 24, 24)).astype(np.float32)
    up = read_image_upload(_geotiff(arr, crs=None, transform=from_origin(0, 24, 1, 1)))
    assert up.centre is None and up.width_km is None
    assert (up.rgb[..., 0] == up.rgb[..., 1]).all()
    assert any("lower accuracy" in n for n in up.notes)


@pytest.mark.parametrize(
    "make, fmt, note",
    [
        (lambda: Image.new("RGB", (40, 30), (10, 100, 200)).convert("CMYK"), "JPEG", "CMYK"),
        (lambda: Image.new("RGB", (40, 30), (10, 100, 200)).convert("P"), "PNG", "palette"),
        (lambda: Image.new("L", (40, 30), 90), "PNG", "lower accuracy"),
        (lambda: Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16)), "PNG", "16-bit"),
        (lambda: Image.new("RGBA", (40, 30), (10, 100, 200, 0)), "PNG", "composited on white"),
    ],
)
def test_pillow_conversions_are_named(make, fmt, note):
    up = read_image_upload(_saved(make(), fmt))
    assert up.rgb.shape == (30, 40, 3) and up.rgb.dtype == np.uint8
    assert any(note in n for n in up.notes), up.notes


def test_cmyk_colours_survive_the_conversion():
    up = read_image_upload(_saved(Image.new("RGB", (20, 20), (10, 100, 200)).convert("CMYK"), "JPEG"))
    assert np.abs(up.rgb.reshape(-1, 3).mean(axis=0) - [10, 100, 200]).max() < 12


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels, with one tiny compressed row."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_before_decoding():
    with pytest.raises(InputError, match="megapixels|too large"):
        read_image_upload(_png_header_only(100_000, 100_000))
    big = np.zeros((1, 300, 300), np.uint8)
    with pytest.raises(InputError, match="megapixels"):
        read_image_upload(_geotiff(big), max_pixels=50_000)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"max_bytes": "x"}, "max_bytes"),
        ({"max_bytes": 0}, "max_bytes"),
        ({"max_pixels": 2.5}, "max_pixels"),
        ({"max_pixels": None}, "max_pixels"),
    ],
)
def test_limits_must_be_whole_positive_numbers(kw, match):
    with pytest.raises(InputError, match=match):
        validate_image_upload(_saved(Image.new("RGB", (8, 8)), "PNG"), **kw)


def test_truncated_geotiff_and_non_images_are_refused():
    data = _geotiff(np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(InputError):
        read_image_upload(data[: len(data) // 3])
    with pytest.raises(InputError, match="not an image"):
        read_image_upload(b"II*\x00" + b"not really a tiff" * 20)
