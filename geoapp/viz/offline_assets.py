"""Leaflet served locally, so maps render with no internet.

``xstatic-leaflet`` ships Leaflet 1.9.3; :func:`install_leaflet` copies it into Streamlit's static
folder, which Streamlit serves at ``/app/static/`` when ``server.enableStaticServing`` is on (see
``.streamlit/config.toml``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from geoapp.errors import MissingDataError
from geoapp.paths import static_dir

__all__ = ["LEAFLET_JS_URL", "LEAFLET_CSS_URL", "install_leaflet", "leaflet_installed"]

LEAFLET_JS_URL = "/app/static/leaflet/leaflet.js"
LEAFLET_CSS_URL = "/app/static/leaflet/leaflet.css"
_FILES = ("leaflet.js", "leaflet.css", "images")


def _source() -> Path:
    try:
        import xstatic.pkg.leaflet as xl
    except ImportError as exc:  # pragma: no cover - guarded by requirements
        raise MissingDataError("xstatic-leaflet is not installed; run `make setup`") from exc
    return Path(xl.BASE_DIR)


def leaflet_installed(target: Path | None = None) -> bool:
    """True when Leaflet's files are in the static folder."""
    base = (target or static_dir()) / "leaflet"
    return all((base / name).exists() for name in _FILES)


def install_leaflet(target: Path | None = None) -> Path:
    """Copy Leaflet's js, css and marker images into ``<static>/leaflet``; returns that folder."""
    src = _source()
    dest = (target or static_dir()) / "leaflet"
    dest.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        s, d = src / name, dest / name
        if s.is_dir():
            shutil.copytree(s, d, dirs_exist_ok=True)
        else:
            shutil.copy2(s, d)
    return dest
