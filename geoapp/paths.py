"""Where geoapp keeps its files.

``GEOAPP_DATA_DIR`` (default ``<repo>/data``) holds built datasets and caches; ``GEOAPP_CHECKPOINT_DIR``
(default ``<repo>/checkpoints``) holds model checkpoints (those trained from the app under ``user/``,
those trained from the command line under ``yield/`` and ``location/``); ``GEOAPP_JOBS_DIR`` (default
``<repo>/jobs``) holds the training jobs' status, logs and lock.

The defaults hang off the checkout, not the current folder, so ``python -m geoapp`` run from anywhere
reads and writes the same folders. The variables are read at call time, so tests can point them at a
temporary folder; an empty one counts as unset, ``~`` is expanded, and a relative setting is made
absolute against the current folder when read (a training worker, which runs from the repository,
then sees the same folders as the app that started it).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "EXPERIMENTS_DIR", "data_dir", "checkpoint_dir", "jobs_dir", "static_dir"]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout holding the ``geoapp`` package, ``app.py`` and ``pages/``."""

EXPERIMENTS_DIR = REPO_ROOT / "experiments"
"""The experiments' results stores, one folder per dataset (tracked in git; ``$GEOAPP_EXPERIMENTS_DIR`` overrides)."""


def _folder(variable: str, default: Path) -> Path:
    """``$variable`` (``~`` expanded) or ``default``, as an absolute path."""
    value = os.environ.get(variable, "").strip()
    return (Path(value).expanduser() if value else default).absolute()


def data_dir() -> Path:
    """Folder for built datasets and caches (``$GEOAPP_DATA_DIR`` or ``<repo>/data``)."""
    return _folder("GEOAPP_DATA_DIR", REPO_ROOT / "data")


def checkpoint_dir() -> Path:
    """Folder for model checkpoints (``$GEOAPP_CHECKPOINT_DIR`` or ``<repo>/checkpoints``)."""
    return _folder("GEOAPP_CHECKPOINT_DIR", REPO_ROOT / "checkpoints")


def jobs_dir() -> Path:
    """Folder of the training jobs started from the app (``$GEOAPP_JOBS_DIR`` or ``<repo>/jobs``)."""
    return _folder("GEOAPP_JOBS_DIR", REPO_ROOT / "jobs")


def static_dir() -> Path:
    """Streamlit's static folder (served at ``/app/static/``): ``<repo>/static``."""
    return REPO_ROOT / "static"
