"""Files the app serves itself, so maps render with no internet: Leaflet, its swipe plugin, and GeoJSON a map fetches.

``xstatic-leaflet`` ships Leaflet 1.9.3; :func:`install_leaflet` copies it into Streamlit's static
folder, which Streamlit serves at ``/app/static/`` when ``server.enableStaticServing`` is on (see
``.streamlit/config.toml``). :func:`install_side_by_side` does the same for the leaflet-side-by-side
plugin (the swipe control leafmap's ``split_map`` loads from a CDN), from the package tarball that
``npm pack leaflet-side-by-side@2.2.0`` fetches at set-up (``make assets``); the tarball is checked
against the registry's SHA-512 before a byte of it is used. :func:`publish_geojson` puts a GeoJSON
file in the static folder under a name that carries its content's digest, so a browser may keep it
and never gets a stale one.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import sys
import tarfile
from pathlib import Path

from geoapp.errors import InputError, MissingDataError
from geoapp.fileio import atomic_path, atomic_write_text
from geoapp.paths import static_dir

__all__ = [
    "LEAFLET_JS_URL",
    "LEAFLET_CSS_URL",
    "LEAFLET_IMAGES_URL",
    "SIDE_BY_SIDE_CSS_URLS",
    "SIDE_BY_SIDE_JS_URL",
    "SIDE_BY_SIDE_PACKAGE",
    "STATIC_URL",
    "install_leaflet",
    "install_side_by_side",
    "leaflet_installed",
    "publish_geojson",
    "side_by_side_installed",
]

STATIC_URL = "/app/static"
"""Where Streamlit serves the static folder."""

LEAFLET_JS_URL = f"{STATIC_URL}/leaflet/leaflet.js"
LEAFLET_CSS_URL = f"{STATIC_URL}/leaflet/leaflet.css"
LEAFLET_IMAGES_URL = f"{STATIC_URL}/leaflet/images/"
"""Folder of Leaflet's marker and layer-control images (trailing slash: Leaflet appends the file name).

Leaflet 1.9.3 guesses this folder from its stylesheet (``.leaflet-default-icon-path``), and when the
stylesheet has not been applied yet (streamlit-folium adds the ``<link>`` just before it runs the map's
script) falls back to the link's folder without a slash: ``/app/static/leafletmarker-icon.png``, a 404.
Maps set it explicitly (:class:`geoapp.viz.maps.DefaultIconPath`).
"""
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


SIDE_BY_SIDE_PACKAGE = "leaflet-side-by-side@2.2.0"
"""The npm package (and version) of the swipe plugin; ``make assets`` runs ``npm pack`` on it."""
SIDE_BY_SIDE_INTEGRITY = "sha512-JLN9dUoQgSJcZWowOOG19s4zpHasZfGsBeJ/ceObJ1f7vQ0OGGvx564yH7+JOF/zk1zNDi1RYjeJZUwVCC7YNA=="
"""The registry's ``dist.integrity`` of leaflet-side-by-side 2.2.0 (``npm view leaflet-side-by-side@2.2.0 dist.integrity``)."""
_SBS_FOLDER = "leaflet/side-by-side"
SIDE_BY_SIDE_JS_URL = f"{STATIC_URL}/{_SBS_FOLDER}/leaflet-side-by-side.js"
SIDE_BY_SIDE_CSS_URLS = (f"{STATIC_URL}/{_SBS_FOLDER}/layout.css", f"{STATIC_URL}/{_SBS_FOLDER}/range.css")
_SBS_COPIED = ("layout.css", "range.css", "range-icon.png", "LICENSE")
# The package ships its CommonJS source only (the browser build lives on the project's gh-pages
# branch): the script runs it unchanged, with `require("leaflet")` answered by the page's Leaflet;
# the stylesheets it requires are served as files (maps link them) and their `require` is a no-op.
_SBS_WRAPPER = """/* leaflet-side-by-side 2.2.0 (MIT, Gregor MacLennan / Digital Democracy), from its npm package;
   wrapped for a page that loads Leaflet as a script (geoapp.viz.offline_assets). */
(function (L) {{
  var module = {{exports: {{}}}};
  var require = function (name) {{ return name === "leaflet" ? L : {{}}; }};
{source}
}})(window.L);
"""


def side_by_side_installed(target: Path | None = None) -> bool:
    """True when the swipe plugin's script and stylesheets are in the static folder."""
    base = (target or static_dir()) / _SBS_FOLDER
    return (base / "leaflet-side-by-side.js").exists() and all((base / name).exists() for name in _SBS_COPIED)


def install_side_by_side(tarball: str | Path, target: Path | None = None) -> Path:
    """Install leaflet-side-by-side from its npm tarball into ``<static>/leaflet/side-by-side``; returns that folder.

    Args:
        tarball: the ``.tgz`` that ``npm pack leaflet-side-by-side@2.2.0`` wrote.
        target: the static folder (default: the app's).

    Raises:
        MissingDataError: the tarball does not exist (run ``make assets``).
        InputError: its SHA-512 is not the registry's for 2.2.0 (a different or damaged file), or it
            lacks a file the plugin needs. Nothing is written then.
    """
    path = Path(tarball)
    if not path.is_file():
        raise MissingDataError(f"no npm tarball at {str(path)!r}; run `make assets` (it runs `npm pack {SIDE_BY_SIDE_PACKAGE}`)")
    data = path.read_bytes()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if integrity != SIDE_BY_SIDE_INTEGRITY:
        raise InputError(
            f"{str(path)!r} has integrity {integrity[:24]}..., not the registry's {SIDE_BY_SIDE_INTEGRITY[:24]}... "
            f"for {SIDE_BY_SIDE_PACKAGE}; delete it and run `make assets` again"
        )
    files: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as tar:  # read named members only: nothing is extracted by path
        for name in ("index.js", *_SBS_COPIED):
            member = tar.getmember(f"package/{name}") if f"package/{name}" in tar.getnames() else None
            handle = tar.extractfile(member) if member is not None and member.isfile() else None
            if handle is None:
                raise InputError(f"{str(path)!r} lacks package/{name}; is it the {SIDE_BY_SIDE_PACKAGE} tarball?")
            files[name] = handle.read()
    dest = (target or static_dir()) / _SBS_FOLDER
    dest.mkdir(parents=True, exist_ok=True)
    source = files.pop("index.js").decode("utf-8")
    for name, content in files.items():
        with atomic_path(dest / name) as tmp:
            tmp.write_bytes(content)
    atomic_write_text(dest / "leaflet-side-by-side.js", _SBS_WRAPPER.format(source=source))
    return dest


_GEO_FOLDER = "geo"
_STEM_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def publish_geojson(source: str | Path, stem: str, target: Path | None = None) -> str:
    """Serve the GeoJSON file ``source`` from the static folder; returns its URL (``/app/static/geo/<stem>-<digest>.json``).

    The file is copied (atomically) once per content: its name carries the first 16 hex digits of
    the content's SHA-256. The folder ``<static>/geo`` holds only such generated files and a
    ``.gitignore`` that keeps them out of version control.
    """
    if not isinstance(stem, str) or not _STEM_RE.fullmatch(stem):
        raise InputError(f"stem {stem!r} must be 1-64 lower-case letters, digits, '_' or '-' (it becomes a file name)")
    data = Path(source).read_bytes()
    name = f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.json"
    folder = (target or static_dir()) / _GEO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        atomic_write_text(ignore, "# generated by geoapp (offline_assets.publish_geojson)\n*\n")
    dest = folder / name
    if not dest.exists() or dest.stat().st_size != len(data):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(data)
    return f"{STATIC_URL}/{_GEO_FOLDER}/{name}"


def _main(argv: list[str]) -> int:
    """``python -m geoapp.viz.offline_assets <tarball>``: install the swipe plugin (``make assets``)."""
    if len(argv) != 1:
        print(f"usage: python -m geoapp.viz.offline_assets <{SIDE_BY_SIDE_PACKAGE} npm tarball>", file=sys.stderr)
        return 2
    try:
        print(f"leaflet-side-by-side installed in {install_side_by_side(argv[0])}")
    except (InputError, MissingDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
