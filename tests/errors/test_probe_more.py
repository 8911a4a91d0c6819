"""Bad input found by a later probe: benchmark flags, a damaged truth.json, a run folder of the user's
files, attention summaries and a job wait with impossible arguments."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from geoapp.analysis.attention import summarise_attention
from geoapp.cli import main
from geoapp.errors import InputError
from geoapp.jobs.runner import JobRunner
from geoapp.training.checkpoint import remove_if_unused


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "sampler", "--n", "-3"], "must be at least 1"),
        (["bench", "sampler", "--n", "100000000000"], "at most 1,000,000"),
        (["bench", "difficulty", "--test-years", "abc"], "expected comma-separated years"),
        (["bench", "data", "--repeats", "0"], "must be at least 1"),
    ],
)
def test_benchmark_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("truth", [{}, {"noise_floor_rmse_bu": "abc"}])
def test_a_damaged_truth_file_is_one_line_naming_it(truth, tiny_dataset_path, tmp_path, capsys):
    copy = shutil.copytree(tiny_dataset_path, tmp_path / "ds")
    (copy / "truth.json").write_text(json.dumps(truth))
    assert main(["data", "info", "--path", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "truth.json's 'noise_floor_rmse_bu'" in err and len(err.splitlines()) == 1


def test_remove_if_unused_keeps_a_folder_of_the_users_files(tmp_path):
    user = tmp_path / "u"
    (user / "best").mkdir(parents=True)
    (user / "best" / "notes.txt").write_text("mine")
    (user / "keep.txt").write_text("mine")
    remove_if_unused(user)
    assert (user / "best" / "notes.txt").read_text() == "mine" and (user / "keep.txt").exists()
    (user / "keep.txt").unlink()
    remove_if_unused(user)  # best/ still holds the user's file
    assert (user / "best" / "notes.txt").exists()
    empty_run = tmp_path / "run"
    (empty_run / "best").mkdir(parents=True)
    (empty_run / "metrics.jsonl").write_text("")
    remove_if_unused(empty_run)  # what a run writes before its first checkpoint
    assert not empty_run.exists()


def test_attention_summary_refuses_impossible_arguments():
    att = np.full((1, 2, 1, 3, 3), 1 / 3)
    with pytest.raises(InputError, match=r"county must be an example index in 0..1, got 1000000"):
        summarise_attention(att, 10**6)
    with pytest.raises(InputError, match=r"att must be a \(layers, N, heads, T, T\) array"):
        summarise_attention([1, 2, 3])
    with pytest.raises(InputError, match="county must be an example index"):
        summarise_attention(att, "a")


def test_wait_refuses_a_timeout_that_is_not_positive(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    for bad in (-1, 0, "x", True):
        with pytest.raises(InputError, match="timeout must be a positive number of seconds"):
            runner.wait("20260101-000000-000001", timeout=bad)
