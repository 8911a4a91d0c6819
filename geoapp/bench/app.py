"""App benchmark in a real browser: ``python -m geoapp bench app [--repeat N] [--markdown docs/benchmarks.md]``.

Starts the app as ``make run`` does (``python -m geoapp.app_support.serve`` with the Makefile's
flags, on a free loopback port: ``streamlit run app.py`` plus the preload at server start) and drives
Debian's headless chromium through Playwright along the fixed script of journeys in
:mod:`geoapp.bench.app_journeys`, one per page, each on a fresh server and a fresh browser session:
the page's first visit (cold, right after ``/_stcore/health`` answers), its second visit (warm),
then the page's interactions (map view, county click, year, checkpoint, model comparison, encoders
and galleries, map clicks, a held-out geolocation).

A step's time runs from the action (a navigation, a click, a choice) until Streamlit is idle and
the step's expected element is visible, and stays so for a quiet spell (a rerun that starts within
it, such as the one a map sends once drawn, is waited for); the quiet spell itself is not counted.
Budgets: a page's first paint 3 s, an interaction 1 s. A step that fails (an element not found
within the timeout, no rerun after a click) is reported as ``failed: <reason>`` and the rest go on.
Beside the steps, each journey reports two figures without a budget: the server's start (process
start to ``/_stcore/health``) and when its preload finished (process start to the preload's line
in the server log).

Playwright is a test requirement (``make test-setup`` installs it); this module imports it only
when the benchmark runs. The app's folders follow ``GEOAPP_*`` variables, which the server inherits.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geoapp.bench.app_journeys import INTERACTION_BUDGET_S, PAGE_BUDGET_S, SCRIPT, Journey, Step, StepFailed
from geoapp.errors import GeoappError, MissingDataError
from geoapp.fileio import atomic_write_text
from geoapp.paths import REPO_ROOT

__all__ = [
    "PAGE_BUDGET_S",
    "INTERACTION_BUDGET_S",
    "SCRIPT",
    "Step",
    "Journey",
    "StepResult",
    "Server",
    "serve_app",
    "run_app_benchmark",
    "format_table",
    "write_markdown",
    "MARKDOWN_HEADING",
]

MARKDOWN_HEADING = "## App in the browser (`python -m geoapp bench app`)"
"""The heading of the section ``write_markdown`` owns in the benchmarks file."""

STREAMLIT_FLAGS = (
    "--server.address", "127.0.0.1", "--server.headless", "true",
    "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
)  # fmt: skip
"""The Makefile's STREAMLIT_FLAGS (the port is added per server)."""
SERVE = ("-m", "geoapp.app_support.serve")
"""How ``make run`` starts the app: ``streamlit run app.py`` with the preload (the interpreter runs it)."""
PRELOAD_DONE = "geoapp preload: done in"
"""How the server's line reporting its finished preload starts (``geoapp.app_support.preload.PRELOAD_DONE``)."""
CHROMIUM_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
)  # fmt: skip
"""Chromium flags for a headless, offline, sandbox-less run (DESIGN: testing as a user would)."""

_RUNS_JS = """
window.__geoappRuns = [];
new MutationObserver((changes) => {
  for (const m of changes) window.__geoappRuns.push([m.target.getAttribute('data-test-script-state'), Date.now()]);
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
"""
"""Records every change of Streamlit's script state (running, notRunning, ...) with its time."""
_STATE_JS = (
    "() => [document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') ?? null,"
    " window.__geoappRuns || []]"
)


# ---- running it --------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running app: its base URL, the seconds its start took (to ``/_stcore/health``) and its log."""

    url: str
    start_s: float
    log: object  # the open file the server writes to

    def preload_s(self) -> float | None:
        """Seconds from the server process's start until its preload finished, or None if it has not (yet)."""
        self.log.seek(0)
        for line in self.log.read().splitlines():
            if line.startswith(PRELOAD_DONE):
                match = re.match(r"([0-9.]+) s", line[len(PRELOAD_DONE) :].strip())
                return float(match.group(1)) if match else None
        return None


@contextlib.contextmanager
def serve_app(env: dict[str, str] | None = None, start_timeout_s: float = 180.0) -> Iterator[Server]:
    """Start the app as ``make run`` does, on a free port; yield it once ``/_stcore/health`` answers."""
    port = _free_port()
    cmd = [sys.executable, *SERVE, *STREAMLIT_FLAGS, "--server.port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
                if proc.poll() is not None or time.perf_counter() - t0 > start_timeout_s:
                    log.seek(0)
                    last = (log.read().strip().splitlines() or ["no output"])[-1]
                    raise GeoappError(f"the app did not start (exit status {proc.poll()}): {last}")
                time.sleep(0.05)
            yield Server(url, time.perf_counter() - t0, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _settle(page, step: Step, memo: dict, t0: float, timeout_s: float, quiet_s: float) -> float:
    """Seconds from ``t0`` until Streamlit is idle and ``step.ready`` holds (and still does ``quiet_s`` later)."""
    seen_run = step.navigation
    ok_since: float | None = None
    while True:
        now = time.time()
        try:
            state, events = page.evaluate(_STATE_JS)
        except Exception:  # noqa: BLE001 - the page is navigating
            state, events = None, []
        runs = [t / 1000 for s, t in events if s in ("running", "rerunRequested") and t / 1000 >= t0]
        seen_run = seen_run or bool(runs)
        if ok_since is not None and any(t > ok_since for t in runs):
            ok_since = None  # a rerun started after the page looked done: wait for it
        ok = seen_run and state in ("notRunning", "compilationError") and step.ready(page, memo)
        if not ok:
            ok_since = None
        elif ok_since is None:
            ok_since = now
        elif now - ok_since >= quiet_s:
            return ok_since - t0
        if now - t0 > timeout_s:
            if not seen_run:
                raise StepFailed(f"no rerun within {timeout_s:.0f} s of the action (ignored?)")
            if state != "notRunning":
                raise StepFailed(f"the app was still running after {timeout_s:.0f} s")
            raise StepFailed(f"the expected element was not visible within {timeout_s:.0f} s")
        page.wait_for_timeout(50)


def _run_step(page, step: Step, url: str, memo: dict, timeout_s: float, quiet_s: float) -> float:
    """The step's seconds; raises StepFailed with a one-line reason."""
    from playwright.sync_api import Error as PlaywrightError

    t0 = time.time()
    try:
        step.act(page, url, memo)
        seconds = _settle(page, step, memo, t0, timeout_s, quiet_s)
    except PlaywrightError as exc:
        raise StepFailed((str(exc).strip().splitlines() or [type(exc).__name__])[0]) from exc
    if page.locator("[data-testid=stException]").count():
        raise StepFailed("the page shows a traceback: " + page.locator("[data-testid=stException]").first.inner_text()[:120])
    return seconds


@dataclass
class StepResult:
    """A step's seconds over the repeats (None where it failed) and the failures' reasons."""

    name: str
    budget_s: float | None
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median_s(self) -> float | None:
        """Median seconds over the successful runs; None when every run failed."""
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def within_budget(self) -> bool | None:
        """Whether the median is within budget; None without a budget or a figure."""
        if self.median_s is None or self.budget_s is None:
            return None
        return self.median_s <= self.budget_s


_START = "{}: server start (to /_stcore/health)"
_PRELOAD = "{}: preload finished (from server start)"
_READY_VISIT = "{}: first visit (fresh server, preload finished)"


def _wait_for_preload(server: Server, timeout_s: float) -> bool:
    """Wait until the server's preload has finished (its log line); False after ``timeout_s``."""
    t0 = time.perf_counter()
    while server.preload_s() is None:
        if time.perf_counter() - t0 > timeout_s:
            return False
        time.sleep(0.2)
    return True


def require_playwright() -> None:
    """Refuse to run without Playwright or chromium, in one line that says how to install them."""
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        raise MissingDataError("Playwright is not installed: `make test-setup` installs it (bench app drives headless chromium)")
    if shutil.which("chromium") is None:
        raise MissingDataError("chromium is not installed: `make test-setup` installs Debian's chromium (as root)")


def run_app_benchmark(
    repeat: int = 1,
    only: Sequence[str] | None = None,
    timeout_s: float = 120.0,
    quiet_s: float = 1.0,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the script ``repeat`` times (fresh servers each time); returns {"rows": [StepResult], "machine", ...}.

    Args:
        repeat: runs of the whole script; each step reports the median of its successful runs.
        only: run only the steps with these names (journeys with none of them are skipped).
        timeout_s: how long a step may take before it is reported as failed.
        quiet_s: how long the page must stay idle and ready before a step counts as done (not counted).
        env: extra environment for the servers (e.g. ``GEOAPP_DATA_DIR``).
        progress: called with one line per finished step.
    """
    require_playwright()
    if repeat < 1:
        raise GeoappError(f"--repeat must be at least 1, got {repeat!r}")
    from playwright.sync_api import sync_playwright

    journeys = [Journey(j.page, j.path, tuple(s for s in j.steps if only is None or s.name in only)) for j in SCRIPT]
    journeys = [j for j in journeys if j.steps]
    unknown = sorted(set(only or ()) - {s.name for j in journeys for s in j.steps})
    if unknown:
        raise GeoappError(f"no such step: {unknown}; the steps are {[s.name for j in SCRIPT for s in j.steps]}")
    results: dict[str, StepResult] = {}
    for j in journeys:
        results[_START.format(j.page)] = StepResult(_START.format(j.page), None)
        for s in j.steps:
            results[s.name] = StepResult(s.name, s.budget_s)
        results[_PRELOAD.format(j.page)] = StepResult(_PRELOAD.format(j.page), None)
        if j.steps[0].navigation:
            results[_READY_VISIT.format(j.page)] = StepResult(_READY_VISIT.format(j.page), j.steps[0].budget_s)
    say = progress or (lambda line: None)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=list(CHROMIUM_FLAGS))
        try:
            for run in range(repeat):
                for j in journeys:
                    with serve_app(env) as server:
                        url = server.url
                        results[_START.format(j.page)].seconds.append(server.start_s)
                        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                        ctx.add_init_script(_RUNS_JS)
                        page, memo = ctx.new_page(), {}
                        try:
                            for s in j.steps:
                                try:
                                    seconds = _run_step(page, s, url, memo, timeout_s, quiet_s)
                                    results[s.name].seconds.append(seconds)
                                    say(f"run {run + 1}/{repeat}  {s.name}: {seconds:.2f} s")
                                except StepFailed as exc:
                                    results[s.name].failures.append(str(exc))
                                    say(f"run {run + 1}/{repeat}  {s.name}: failed: {exc}")
                        finally:
                            ctx.close()
                        preload_s = server.preload_s()
                        if preload_s is not None:
                            results[_PRELOAD.format(j.page)].seconds.append(preload_s)
                        else:
                            results[_PRELOAD.format(j.page)].failures.append("no preload line in the server's log")
                for j in journeys:  # the first visit once `make run` has finished starting (the preload done)
                    if _READY_VISIT.format(j.page) in results:
                        row = results[_READY_VISIT.format(j.page)]
                        with serve_app(env) as server:
                            if not _wait_for_preload(server, timeout_s):
                                row.failures.append(f"the preload did not finish within {timeout_s:g} s")
                                continue
                            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                            ctx.add_init_script(_RUNS_JS)
                            try:
                                seconds = _run_step(ctx.new_page(), j.steps[0], server.url, {}, timeout_s, quiet_s)
                                row.seconds.append(seconds)
                                say(f"run {run + 1}/{repeat}  {row.name}: {seconds:.2f} s")
                            except StepFailed as exc:
                                row.failures.append(str(exc))
                            finally:
                                ctx.close()
        finally:
            browser.close()
    return {"rows": list(results.values()), "repeat": repeat, "machine": machine(), "date": datetime.date.today().isoformat()}


# ---- reporting ---------------------------------------------------------------------------------
def machine() -> str:
    """The machine in words: cores and CPU model."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {model}"


def _cells(row: StepResult, repeat: int) -> tuple[str, str, str]:
    median = row.median_s
    if median is None:
        seconds = f"failed: {row.failures[0]}" if row.failures else "not run"
    else:
        seconds = f"{median:.2f}" + (f" ({len(row.failures)} of {repeat} runs failed)" if row.failures else "")
    budget = "" if row.budget_s is None else f"{row.budget_s:g} s"
    within = "" if row.within_budget is None else ("yes" if row.within_budget else "no")
    if median is None and row.budget_s is not None:
        within = "no"
    return seconds, budget, within


def format_table(result: dict, markdown: bool = False) -> str:
    """The table: step, seconds (median over the runs), budget, within budget."""
    header = ("step", "seconds", "budget", "within budget")
    rows = [(r.name, *_cells(r, result["repeat"])) for r in result["rows"]]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---|---|---|"]
        return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)]) + "\n"
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(4)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in (header, *rows)) + "\n"


def _commit() -> str:
    """The checkout's commit, with a mark when tracked files had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head.stdout.strip():
        return "unknown"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def section_markdown(result: dict, note: str = "") -> str:
    """The benchmarks file's section for ``result``, from its heading to its last line."""
    runs = "one run" if result["repeat"] == 1 else f"median of {result['repeat']} runs"
    failed = [r for r in result["rows"] if r.budget_s is not None and r.median_s is None]
    missed = [r for r in result["rows"] if r.within_budget is False]
    lines = [
        MARKDOWN_HEADING,
        "",
        f"Measured {result['date']} on {result['machine']}, a shared machine (other work, such as a training "
        f"run, used the same cores, so times are indicative), at commit {_commit()}, {runs}; headless Debian "
        "chromium, each journey on a fresh server started as `make run` does (`python -m geoapp.app_support.serve`: "
        "`streamlit run app.py` with the Makefile's flags and the preload at server start) and a fresh browser "
        "session. A cold first visit starts as soon as `/_stcore/health` answers. A step runs from the navigation "
        "or the click until Streamlit is idle and the step's element is visible. Budgets: a page's first paint "
        f"{PAGE_BUDGET_S:g} s, an interaction {INTERACTION_BUDGET_S:g} s. The server-start rows (process start to "
        "`/_stcore/health`) and the preload rows (process start to the end of the preload) have no budget.",
        "",
        format_table(result, markdown=True).rstrip("\n"),
        "",
        f"{sum(r.within_budget is True for r in result['rows'])} steps within budget, {len(missed)} over, {len(failed)} failed.",
    ]
    if note:
        lines += ["", note]
    lines[2] = textwrap.fill(lines[2], width=104, break_on_hyphens=False)
    lines[-1] = textwrap.fill(lines[-1], width=104, break_on_hyphens=False) if note else lines[-1]
    return "\n".join(lines) + "\n"


def write_markdown(result: dict, path: str | Path, note: str = "") -> Path:
    """Write the section into ``path`` (atomically): replace the section if present, else append; keep the rest."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == MARKDOWN_HEADING), None)
    section = section_markdown(result, note)
    if start is None:
        text = old.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    atomic_write_text(path, text)
    return path
