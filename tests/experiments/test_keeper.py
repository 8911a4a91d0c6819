"""The queue's keeper: a background process that trains the queued runs as jobs and scores them, unwatched."""

from __future__ import annotations

import time

import pytest

from geoapp.data.dataset import load_dataset
from geoapp.experiments.keeper import ensure_keeper, keeper_file, keeper_pid
from geoapp.experiments.plan import RunSpec
from geoapp.experiments.queue import queue_runs, read_queue
from geoapp.experiments.store import OK, ResultStore
from geoapp.jobs.processes import process_alive


@pytest.mark.slow
def test_a_keeper_trains_the_queue_to_the_end_and_exits(tiny_dataset_path, tmp_path, monkeypatch):
    for name, folder in (("EXPERIMENTS", "experiments"), ("JOBS", "jobs"), ("CHECKPOINT", "checkpoints"), ("DATA", "data")):
        monkeypatch.setenv(f"GEOAPP_{name}_DIR", str(tmp_path / folder))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ds = load_dataset(tiny_dataset_path)
    runs = [RunSpec("ridge", year, 2, 0) for year in (2015, 2016)]  # closed form: seconds per job
    queued, refused = queue_runs(runs, ds, "custom")
    assert len(queued) == 2 and not refused
    assert keeper_pid(ds.name) is None
    pid = ensure_keeper(ds, poll_s=0.5)
    assert ensure_keeper(ds, poll_s=0.5) == pid  # one keeper per dataset
    assert keeper_file(ds.name).exists()
    deadline = time.time() + 180
    while process_alive(pid) and time.time() < deadline:
        time.sleep(0.5)
    log = keeper_file(ds.name).with_name("keeper.log").read_text()
    assert not process_alive(pid), f"the keeper still runs after 180 s:\n{log}"
    results = {r["name"]: r for r in ResultStore.for_dataset(ds).read()}
    assert {r.name for r in runs} <= set(results), log
    assert all(results[r.name]["status"] == OK for r in runs)
    assert read_queue(ds.name) == [] and keeper_pid(ds.name) is None  # the queue is empty and the keeper gone
    assert "collected ridge-2015-ny2-seed0" in log
    ds.close()


def test_a_damaged_keeper_file_counts_as_no_keeper(tiny_dataset_path, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "data"))
    ds = load_dataset(tiny_dataset_path)
    path = keeper_file(ds.name)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert keeper_pid(ds.name) is None
    path.write_text('{"pid": 999999999, "start_ticks": 1}')  # a process that does not exist
    assert keeper_pid(ds.name) is None
    ds.close()


def test_sessions_asking_at_once_start_one_keeper(tiny_dataset_path, tmp_path, monkeypatch):
    import json
    import os
    import threading

    from geoapp.experiments import keeper
    from geoapp.jobs.processes import start_ticks

    monkeypatch.setenv("GEOAPP_DATA_DIR", str(tmp_path / "data"))
    ds = load_dataset(tiny_dataset_path)
    starts = []

    def fake_start(ds, path, poll_s):  # stands in for the process: this one, alive while the test runs
        starts.append(1)
        time.sleep(0.3)  # a slow start: the others wait on the lock, then find it running
        path.write_text(json.dumps({"pid": os.getpid(), "start_ticks": start_ticks(os.getpid())}))
        return os.getpid()

    monkeypatch.setattr(keeper, "_start", fake_start)
    pids = []
    threads = [threading.Thread(target=lambda: pids.append(ensure_keeper(ds))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(starts) == 1 and pids == [os.getpid()] * 4
    ds.close()
