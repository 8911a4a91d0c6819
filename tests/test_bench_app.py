"""``bench app``: a reduced script in headless chromium gives a row per step with positive seconds; the
markdown section replaces itself and keeps the rest of the file; a missing Playwright is one clear line."""

from __future__ import annotations

import concurrent.futures

import pytest

from geoapp.bench import app as bench_app
from geoapp.bench.app import MARKDOWN_HEADING, StepResult, format_table, run_app_benchmark, write_markdown
from geoapp.cli import main
from geoapp.errors import MissingDataError

REDUCED = ["Home: first visit (cold)", "Home: second visit (warm)", "Yield map: first visit (cold)", "Yield map: view Predicted"]


@pytest.mark.browser
@pytest.mark.slow
def test_a_reduced_script_times_every_step():
    # In a thread of its own: the browser tests' Playwright may hold an asyncio loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(run_app_benchmark, only=REDUCED, timeout_s=180).result()
    rows = {r.name: r for r in result["rows"]}
    for name in REDUCED:
        assert not rows[name].failures, (name, rows[name].failures)
        assert rows[name].median_s is not None and rows[name].median_s > 0, name
    assert rows["Home: first visit (cold)"].budget_s == 3.0
    assert rows["Yield map: view Predicted"].budget_s == 1.0
    table = format_table(result)
    for name in REDUCED:
        assert name in table
    assert "within budget" in table.splitlines()[0]


def _result(seconds: list[float], failures: list[str] | None = None) -> dict:
    rows = [
        StepResult("Home: first visit (cold)", 3.0, seconds=seconds, failures=failures or []),
        StepResult("Yield map: county click", 1.0, failures=["the expected element was not visible within 120 s"]),
    ]
    return {"rows": rows, "repeat": 3, "machine": "2 cores, a CPU", "date": "2026-01-01"}


def test_failed_steps_and_medians_in_the_table():
    table = format_table(_result([4.0, 2.0, 2.5]))
    home, click = table.splitlines()[1:3]
    assert "2.50" in home and "yes" in home
    assert "failed: the expected element was not visible" in click and click.rstrip().endswith("no")
    assert "(1 of 3 runs failed)" in format_table(_result([2.0, 2.5], ["timeout"]))


def test_markdown_section_is_replaced_and_the_rest_kept(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text("# Benchmarks\n\n## Dataset build\n\nfigures\n\n## Set-up\n\nmore\n", encoding="utf-8")
    write_markdown(_result([4.0]), path)
    write_markdown(_result([2.0]), path, note="Before the caches.")
    text = path.read_text(encoding="utf-8")
    assert text.count(MARKDOWN_HEADING) == 1
    assert "| Home: first visit (cold) | 2.00 | 3 s | yes |" in text and "4.00" not in text
    assert "## Dataset build\n\nfigures\n\n## Set-up\n\nmore\n" in text
    assert "2 cores, a CPU" in text and "Before the caches." in text
    # the section in the middle of the file: what follows it stays
    path.write_text(f"# B\n\n{MARKDOWN_HEADING}\n\nOLD FIGURES\n\n## Later\n\nkept\n", encoding="utf-8")
    write_markdown(_result([2.0]), path)
    text = path.read_text(encoding="utf-8")
    assert "OLD FIGURES" not in text and text.endswith("## Later\n\nkept\n")


def test_missing_playwright_is_one_line_that_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDataError, match="make test-setup"):
        bench_app.require_playwright()
    assert main(["bench", "app"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Playwright is not installed") and "make test-setup" in err[0]


def test_the_preload_figure_is_read_from_the_server_log(tmp_path):
    with open(tmp_path / "log", "w+") as log:
        server = bench_app.Server("http://127.0.0.1:1", 0.5, log)
        log.write("  URL: http://127.0.0.1:1\n")
        assert server.preload_s() is None
        log.write("geoapp preload: done in 4.25 s (page imports 3.10 s)\n")
        assert server.preload_s() == 4.25
