"""``python -m geoapp``: see :mod:`geoapp.cli`."""

from geoapp.cli import main

raise SystemExit(main())
