"""What torchrun ranks leave in the job folder: pid files read back (garbled ones skipped) and which of
them still run, the first rank's error, and the clean-up before another attempt."""

from __future__ import annotations

import os

from geoapp.jobs.processes import process_alive, start_ticks
from geoapp.jobs.ranks import (
    clear_rank_files,
    first_rank_error,
    live_ranks,
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


def test_live_ranks_names_only_the_recorded_ranks_that_still_run(tmp_path):
    """What keeps a finished job's workspace lock held until its last rank has exited."""
    assert live_ranks(tmp_path) == []
    record_rank(tmp_path, 0)
    rank_pid_file(tmp_path, 1).write_text(f"{os.getpid()} {start_ticks(os.getpid()) + 1}\n")  # the pid, reused
    rank_pid_file(tmp_path, 2).write_text("999999 1\n")  # gone
    rank_pid_file(tmp_path, 3).write_text("garbled")
    assert live_ranks(tmp_path) == [os.getpid()]


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
