"""geoapp.viz.offline_assets: the swipe plugin comes from its npm tarball, checked, and is served by the app."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from geoapp.errors import InputError, MissingDataError
from geoapp.paths import REPO_ROOT
from geoapp.viz import offline_assets
from geoapp.viz.offline_assets import install_side_by_side, side_by_side_installed

TARBALL = REPO_ROOT / "data" / "cache" / "npm" / "leaflet-side-by-side-2.2.0.tgz"
"""Where `make assets` puts `npm pack leaflet-side-by-side@2.2.0`."""


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_npm_tarball_installs_a_script_that_runs_on_the_pages_leaflet(tmp_path):
    assert TARBALL.exists(), "run `make assets`: it fetches the tarball with npm pack"
    folder = install_side_by_side(TARBALL, target=tmp_path)
    assert side_by_side_installed(tmp_path) and folder == tmp_path / "leaflet" / "side-by-side"
    script = (folder / "leaflet-side-by-side.js").read_text()
    assert script.rstrip().endswith("})(window.L);") and "L.Control.SideBySide = L.Control.extend" in script
    assert "url(range-icon.png)" in (folder / "range.css").read_text() and (folder / "range-icon.png").stat().st_size > 0


def test_a_tarball_that_is_not_the_registrys_is_refused_and_nothing_written(tmp_path):
    fake = _tarball(tmp_path / "fake.tgz", {"index.js": b"alert(1)", "layout.css": b"", "range.css": b""})
    with pytest.raises(InputError, match="not the registry's"):
        install_side_by_side(fake, target=tmp_path / "static")
    assert not (tmp_path / "static").exists()
    with pytest.raises(MissingDataError, match="run `make assets`"):
        install_side_by_side(tmp_path / "absent.tgz", target=tmp_path / "static")


def test_a_tarball_missing_a_file_is_refused(tmp_path, monkeypatch):
    import base64
    import hashlib

    partial = _tarball(tmp_path / "partial.tgz", {"index.js": b"var L = require('leaflet')"})
    digest = "sha512-" + base64.b64encode(hashlib.sha512(partial.read_bytes()).digest()).decode()
    monkeypatch.setattr(offline_assets, "SIDE_BY_SIDE_INTEGRITY", digest)  # as if the registry served this file
    with pytest.raises(InputError, match="lacks package/layout.css"):
        install_side_by_side(partial, target=tmp_path / "static")
    assert not (tmp_path / "static").exists()


def test_the_marker_images_are_where_maps_tell_leaflet_to_look(tmp_path):
    from geoapp.viz.offline_assets import LEAFLET_IMAGES_URL, STATIC_URL, install_leaflet, leaflet_installed

    install_leaflet(target=tmp_path)
    assert leaflet_installed(tmp_path)
    assert LEAFLET_IMAGES_URL.startswith(STATIC_URL + "/") and LEAFLET_IMAGES_URL.endswith("/")
    folder = tmp_path / LEAFLET_IMAGES_URL[len(STATIC_URL) + 1 :]
    for name in ("marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"):  # what L.Icon.Default asks for
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
