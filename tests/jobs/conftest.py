"""A process that holds a guard file (geoapp.jobs.guard) until the test lets it go, as another start would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_HOLD = """
import sys
from geoapp.jobs.guard import guarded
with guarded(sys.argv[1], "a test"):
    print("held", flush=True)
    sys.stdin.readline()
"""


class GuardHolder:
    """Another process holding the guard file ``path`` until :meth:`let_go` (or until it is killed)."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout.readline() == "held\n"  # it holds the guard from here on

    def let_go(self) -> None:
        """Let the process leave its ``with`` block and exit; returns once it has."""
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0

    def kill(self) -> None:
        """SIGKILL the process while it holds the guard; returns once it is gone."""
        self.proc.kill()
        self.proc.wait(timeout=60)


@pytest.fixture()
def guard_holder() -> Iterator[Callable[[Path], GuardHolder]]:
    """Start a :class:`GuardHolder` of a given guard file; whatever is left is killed after the test."""
    started: list[GuardHolder] = []

    def start(path: Path) -> GuardHolder:
        started.append(GuardHolder(path))
        return started[-1]

    yield start
    for holder in started:
        if holder.proc.poll() is None:
            holder.kill()
        for stream in (holder.proc.stdin, holder.proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
