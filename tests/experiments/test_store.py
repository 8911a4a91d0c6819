"""The results store: append and read, a damaged line skipped with a warning, another dataset refused."""

from __future__ import annotations

import json

import pytest

from geoapp.errors import DataFileError, InputError
from geoapp.experiments.plan import RunSpec
from geoapp.experiments.store import FAILED, OK, ResultStore, StoreWarning, latest_results, make_record, store_path

DS = {"name": "corn_belt_sim_fake", "fingerprint": "fp-1", "simulated": True}
RUN = RunSpec("s-ha", 2018, 10, 0)


def _ok(run=RUN, rmse=5.0, dataset=DS):
    return make_record(
        run, dataset=dataset, status=OK, metrics={"rmse": rmse, "r2": 0.6, "n": 90, "year": run.test_year}, seconds=3.2
    )


def test_store_path_follows_the_environment(store_env):
    assert store_path("demo") == store_env / "demo" / "results.jsonl"


def test_append_and_read_back(tmp_path):
    store = ResultStore(tmp_path / "s" / "results.jsonl", DS)
    assert store.read() == []
    store.append(_ok())
    store.append(make_record(RunSpec("s-ha", 2017, 10, 0), dataset=DS, status=FAILED, error="RuntimeError: x"))
    records = store.read()
    assert [r["status"] for r in records] == [OK, FAILED]
    assert records[0]["key"] == RUN.identity() and records[0]["metrics"]["rmse"] == 5.0
    assert records[0]["dataset"] == DS and records[0]["version"] and records[0]["time"].endswith("Z")
    assert store.done_keys() == {RUN.key()}


def test_half_written_last_line_is_skipped_with_a_warning_and_nothing_after_it_is_lost(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl", DS)
    store.append(_ok())
    with open(store.path, "a", encoding="utf-8") as f:
        f.write(json.dumps(_ok(RunSpec("s-ha", 2017, 10, 0)))[:40])  # a crash mid-line
    with pytest.warns(StoreWarning, match=r"line 2 skipped \(not valid JSON"):
        assert len(store.read()) == 1
    store.append(_ok(RunSpec("s-ha", 2016, 10, 0)))  # starts on a line of its own
    with pytest.warns(StoreWarning, match="line 2 skipped"):
        records = store.read()
    assert [r["key"]["test_year"] for r in records] == [2018, 2016]


def test_damaged_record_is_skipped(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl", DS)
    bad = _ok()
    bad["metrics"]["rmse"] = None
    store.path.write_text(json.dumps(bad) + "\n" + json.dumps([1, 2]) + "\n")
    with pytest.warns(StoreWarning) as caught:
        assert store.read() == []
    assert [str(w.message).split(": ")[1][:6] for w in caught] == ["line 1", "line 2"]


def test_store_of_another_dataset_is_refused(tmp_path):
    path = tmp_path / "results.jsonl"
    ResultStore(path, DS).append(_ok())
    other = ResultStore(path, {**DS, "fingerprint": "fp-2"})
    with pytest.raises(DataFileError, match=r"holds results of another dataset \(line 1.*'fp-1'.*'fp-2'.*Move that file aside"):
        other.read()
    with pytest.raises(DataFileError, match="another dataset"):
        other.append(_ok(dataset={**DS, "fingerprint": "fp-2"}))
    assert len(path.read_text().splitlines()) == 1  # nothing written


def test_bad_records_are_refused(tmp_path):
    store = ResultStore(tmp_path / "results.jsonl", DS)
    with pytest.raises(InputError, match="names dataset fingerprint 'fp-9'"):
        store.append(_ok(dataset={**DS, "fingerprint": "fp-9"}))
    with pytest.raises(InputError, match="finite rmse"):
        make_record(RUN, dataset=DS, status=OK, metrics={"rmse": float("nan"), "r2": 0.1})
    with pytest.raises(InputError, match="status must be"):
        make_record(RUN, dataset=DS, status="done")
    assert not store.path.exists()


def test_latest_results_prefers_ok_over_a_later_failure():
    fail = make_record(RUN, dataset=DS, status=FAILED, error="x")
    records = [_ok(rmse=5.0), fail, _ok(rmse=4.0), fail]
    (only,) = latest_results(records).values()
    assert only["metrics"]["rmse"] == 4.0
    (failed,) = latest_results([fail]).values()
    assert failed["status"] == FAILED
