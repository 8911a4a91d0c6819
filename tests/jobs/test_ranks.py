"""What torchrun ranks leave in the job folder: pid files read back (garbled ones skipped), the first
rank's error, and the clean-up before another attempt."""

from __future__ import annotations

import os

from geoapp.jobs.processes import process_alive, start_ticks
from geoapp.jobs.ranks import (
    clear_rank_files,
    first_rank_error,
    rank_error_file,
    rank_pid_file,
    rank_processes,
    record_rank,
)


def test_a_recorded_rank_is_read_back_and_alive(tmp_path):
    record_rank(tmp_path, 1)
    assert rank_pid_file(tmp_path, 1).read_text() == f"{os.getpid()} {start_ticks(os.getpid())}\n"
    rank_pid_file(tmp_path, 0).write_text("123 -\n")  # start ticks unknown
    rank_pid_file(tmp_path, 2).write_text("garbled")
    assert rank_processes(tmp_path) == [(123, None), (os.getpid(), start_ticks(os.getpid()))]
    assert process_alive(*rank_processes(tmp_path)[1])


def test_the_first_ranks_error_is_reported(tmp_path):
    assert first_rank_error(tmp_path) is None
    rank_error_file(tmp_path, 3).write_text("ValueError: later rank")
    rank_error_file(tmp_path, 1).write_text("  RuntimeError: CUDA out of memory on rank 1\n" + "x" * 600)
    error = first_rank_error(tmp_path)
    assert error.startswith("rank-1 failed: RuntimeError: CUDA out of memory") and len(error) == len("rank-1 failed: ") + 500


def test_files_of_an_earlier_attempt_are_cleared(tmp_path):
    record_rank(tmp_path, 0)
    rank_error_file(tmp_path, 1).write_text("boom")
    (tmp_path / "status.json").write_text("{}")
    clear_rank_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]
