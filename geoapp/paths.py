"""Where geoapp keeps its files.

``GEOAPP_DATA_DIR`` (default ``<repo>/data``) holds built datasets and caches; ``GEOAPP_CHECKPOINT_DIR``
(default ``<repo>/checkpoints``) holds model checkpoints (those trained from the app under ``user/``);
``GEOAPP_JOBS_DIR`` (default ``<repo>/jobs``) holds the training jobs' status, logs and lock. All are read at call time, so tests can point
them at a temporary folder. Relative settings are made absolute against the current folder when
read, so a training worker (which runs from the repository) sees the same folders as the app.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "data_dir", "checkpoint_dir", "jobs_dir", "static_dir"]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout holding the ``geoapp`` package, ``app.py`` and ``pages/``."""


def data_dir() -> Path:
    """Folder for built datasets and caches (``$GEOAPP_DATA_DIR`` or ``<repo>/data``)."""
    return Path(os.environ.get("GEOAPP_DATA_DIR", REPO_ROOT / "data")).absolute()


def checkpoint_dir() -> Path:
    """Folder for model checkpoints (``$GEOAPP_CHECKPOINT_DIR`` or ``<repo>/checkpoints``)."""
    return Path(os.environ.get("GEOAPP_CHECKPOINT_DIR", REPO_ROOT / "checkpoints")).absolute()


def jobs_dir() -> Path:
    """Folder of the training jobs started from the app (``$GEOAPP_JOBS_DIR`` or ``<repo>/jobs``)."""
    return Path(os.environ.get("GEOAPP_JOBS_DIR", REPO_ROOT / "jobs")).absolute()


def static_dir() -> Path:
    """Streamlit's static folder (served at ``/app/static/``): ``<repo>/static``."""
    return REPO_ROOT / "static"
