"""geoapp.app_support.preload: what it imports, that a failed step does not stop the others, and that
it starts only inside a running server (never under AppTest)."""

from __future__ import annotations

from geoapp.app_support import preload
from geoapp.bench import app as bench_app


def test_page_imports_are_read_from_the_pages(tmp_path):
    (tmp_path / "a.py").write_text("import numpy as np\nfrom geoapp.viz.charts import x\nfrom . import y\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("import streamlit as st\ndef f():\n    import torch\n", encoding="utf-8")
    (tmp_path / "broken.py").write_text("def (:\n", encoding="utf-8")
    assert preload.page_imports(tmp_path) == ["geoapp.viz.charts", "numpy", "streamlit"]  # top level only
    shipped = preload.page_imports()
    assert "geoapp.app_support.page" in shipped and "streamlit" in shipped


def test_a_failed_step_is_one_line_and_the_others_run(monkeypatch, capsys):
    ran = []

    def fail() -> None:
        raise OSError("no such folder")

    monkeypatch.setattr(preload, "preload_steps", lambda: [("first", fail), ("second", lambda: ran.append("second"))])
    report = preload.run_preload()
    assert ran == ["second"] and isinstance(report["second"], float)
    assert report["first"] == "OSError: no such folder"
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "geoapp preload: first failed: OSError: no such folder"
    assert err[-1].startswith(preload.PRELOAD_DONE) and "second" in err[-1]


def test_no_preload_outside_a_running_server(monkeypatch):
    monkeypatch.setattr(preload, "_thread", None)
    assert preload.start_preload() is None  # no Streamlit server in this process
    assert preload._thread is None


def test_the_benchmark_reads_the_preload_line():
    assert bench_app.PRELOAD_DONE == preload.PRELOAD_DONE
