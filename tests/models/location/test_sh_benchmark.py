"""The spherical-harmonics benchmark runs end to end on a tiny size (the real run is in docs/)."""

from __future__ import annotations

import json

import torch

from geoapp.bench.spherical_harmonics import format_sh_table, run_sh_benchmark


def test_tiny_benchmark_prints_json_and_returns_rows(capsys):
    threads = torch.get_num_threads()
    result = run_sh_benchmark(degrees=(3,), n_points=64, json=True, batch_size=32, repeats=1)
    assert torch.get_num_threads() == threads  # restored
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"] == result["rows"]
    names = [(r["implementation"], r["dtype"]) for r in result["rows"]]
    assert names == [
        ("scipy per (l, m)", "float64"),
        ("scipy per (l, |m|)", "float64"),
        ("geoapp recurrence", "float32"),
        ("geoapp recurrence", "float64"),
    ]
    ours64 = result["rows"][3]
    assert ours64["worst_abs_error"] < 1e-12 and ours64["points_per_s"] > 0
    assert ours64["speedup_vs_scipy_per_lm"] > 0
    assert result["target_met"] is None  # no L = 40 row


def test_table_is_markdown(capsys):
    result = run_sh_benchmark(degrees=(2,), n_points=16, batch_size=16, repeats=1)
    table = capsys.readouterr().out.strip()
    assert table == format_sh_table(result)
    lines = table.splitlines()
    assert lines[0].startswith("| L |") and len(lines) == 2 + 4
    assert all(line.count(" | ") == lines[0].count(" | ") for line in lines[2:])
