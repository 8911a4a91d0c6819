"""Start the app with a preload: ``python -m geoapp.app_support.serve [streamlit flags]`` (``make run`` uses it).

The same as ``streamlit run app.py [flags]``, in this process, after starting
:func:`geoapp.app_support.preload.start_preload`, which waits until the server is up and then imports
the pages' modules and warms the shared caches, so the first visitor of a fresh server does not pay
for them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from geoapp.app_support.preload import start_preload
from geoapp.paths import REPO_ROOT

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``streamlit run <repo>/app.py *argv`` with the preload started; does not return until the server stops."""
    started = time.perf_counter()
    from streamlit.web.cli import main as streamlit_main

    start_preload(wait_for_server=True, started=started)
    streamlit_main(["run", str(REPO_ROOT / "app.py"), *(sys.argv[1:] if argv is None else argv)], prog_name="streamlit")


if __name__ == "__main__":
    main()
