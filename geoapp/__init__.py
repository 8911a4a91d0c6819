"""geoapp: explore a context-aware crop-yield model and learned location encoders.

The package imports without Streamlit; the Streamlit pages in ``pages/`` and ``app.py`` are thin
views over it. Layers, top to bottom: ``app_support`` (helpers shared by pages), ``viz`` (figures and
maps), ``analysis``, ``training``, ``models``, ``samplers``, ``data``. A layer never imports one above it.
"""

from __future__ import annotations

from geoapp.errors import CRSError, DataFileError, GeoappError, InputError, MissingDataError

__version__ = "0.1.0"

__all__ = ["CRSError", "DataFileError", "GeoappError", "InputError", "MissingDataError", "__version__"]
