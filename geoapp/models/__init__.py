"""Models, one concept per module; ``location/`` holds the location encoders (encodings + networks).

Subpackages and modules are imported explicitly (``from geoapp.models.location import ...``) so that
importing one family never loads the others.
"""

from __future__ import annotations

__all__: list[str] = []
