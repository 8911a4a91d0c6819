"""Several runners on one plan: each run is claimed by one process, a held or finished run is skipped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from geoapp.experiments.claim import claim_run, lock_path, training_now, training_seconds
from geoapp.experiments.plan import plan_from_dict
from geoapp.experiments.runner import run_plan
from geoapp.experiments.store import OK, ResultStore, make_record
from tests.experiments.conftest import FakeTrainer

fcntl = pytest.importorskip("fcntl")

PLAN = plan_from_dict({"name": "t", "models": ["s-ha"], "test_years": [2016, 2017, 2018]})
ROOT = Path(__file__).resolve().parents[2]


def test_a_claim_is_exclusive_and_released(tmp_path):
    with claim_run(tmp_path, "r1") as mine:
        assert mine.held and mine.lock == lock_path(tmp_path, "r1") == tmp_path / ".r1.lock"
        with claim_run(tmp_path, "r1") as other:  # another open file: the lock conflicts as with another process
            assert not other.held and other.holder.startswith(f"pid {os.getpid()} on ")
        with claim_run(tmp_path, "r2") as different:
            assert different.held
    with claim_run(tmp_path, "r1") as again:
        assert again.held
    assert lock_path(tmp_path, "r1").read_text() == ""  # unlocked: names no holder


def test_training_now_asks_the_lock_not_what_a_killed_runner_left_in_the_file(tmp_path):
    lock = lock_path(tmp_path, "r1")
    lock.write_text(json.dumps({"pid": 2**40, "host": "other-node", "since": "2026-11-30 12:00:00"}))  # nobody locks it
    assert training_now(tmp_path, "r1") is None and training_now(tmp_path, "never-claimed") is None
    with claim_run(tmp_path, "r1"):
        assert training_now(tmp_path, "r1").startswith(f"pid {os.getpid()} on ")
        with claim_run(tmp_path, "r1") as other:
            assert not other.held
    assert training_now(tmp_path, "r1") is None


def test_a_probe_that_holds_the_lock_for_an_instant_does_not_make_a_runner_skip(tmp_path):
    lock = lock_path(tmp_path, "r1")
    lock.touch()
    fd = os.open(lock, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # as training_now's probe does, for microseconds; here 30 ms

    def release():
        time.sleep(0.03)
        fcntl.flock(fd, fcntl.LOCK_UN)

    thread = threading.Thread(target=release)
    thread.start()
    try:
        with claim_run(tmp_path, "r1") as claim:
            assert claim.held
    finally:
        thread.join()
        os.close(fd)


def test_a_run_held_by_another_runner_is_skipped_and_trained_later(fake_ds, store_env, tmp_path):
    runs = tmp_path / "runs"
    trainer, lines = FakeTrainer(), []
    with claim_run(runs, "s-ha-2017-ny10-seed0") as held:
        assert held.held
        summary = run_plan(PLAN, fake_ds, runs_dir=runs, train_fn=trainer, echo=lines.append)
    assert trainer.calls == ["s-ha-2016-ny10-seed0", "s-ha-2018-ny10-seed0"]
    assert summary.elsewhere == ["s-ha-2017-ny10-seed0"] and len(summary.finished) == 2
    assert f"[2/3] s-ha-2017-ny10-seed0: skipped, trained by another runner (pid {os.getpid()} on " in lines[2]
    assert lines[1].startswith("[1/3] s-ha-2016-ny10-seed0: RMSE") and lines[1].endswith(" with 2 runners)")  # ETA shared
    assert lines[3].endswith("ETA 0 s with 2 runners)")  # 2017, skipped, is still in training elsewhere: counted
    assert lines[-1].endswith("2 finished, 0 failed, 0 skipped, 1 left to other runners")
    later = FakeTrainer()
    run_plan(PLAN, fake_ds, runs_dir=runs, train_fn=later, echo=lambda _: None)
    assert later.calls == ["s-ha-2017-ny10-seed0"]


def test_a_run_another_runner_finished_meanwhile_is_not_trained_again(fake_ds, store_env, tmp_path):
    store = ResultStore.for_dataset(fake_ds)
    other_run = next(r for r in PLAN.runs() if r.test_year == 2018)

    class OtherRunnerFinishes(FakeTrainer):
        """While this runner trains 2016, another one appends its result for 2018."""

        def __call__(self, run, ds, folder):
            if run.test_year == 2016:
                metrics = {"rmse": 5.0, "r2": 0.6, "n": 10, "year": 2018}
                info = {"name": ds.name, "fingerprint": ds.fingerprint, "simulated": True}
                store.append(make_record(other_run, dataset=info, status=OK, plan="t", metrics=metrics, seconds=1.0))
            return super().__call__(run, ds, folder)

    trainer, lines = OtherRunnerFinishes(), []
    summary = run_plan(PLAN, fake_ds, runs_dir=tmp_path / "runs", train_fn=trainer, echo=lines.append)
    assert trainer.calls == ["s-ha-2016-ny10-seed0", "s-ha-2017-ny10-seed0"]
    assert summary.elsewhere == ["s-ha-2018-ny10-seed0"]
    assert "[3/3] s-ha-2018-ny10-seed0: skipped, finished by another runner" in lines
    assert sum(r["key"]["test_year"] == 2018 for r in store.read()) == 1


_RUNNER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from geoapp.experiments.plan import plan_from_dict
    from geoapp.experiments.runner import run_plan
    from tests.experiments.conftest import FakeDataset, FakeTrainer

    class Slow(FakeTrainer):
        def __call__(self, run, ds, folder):
            time.sleep(0.5)
            return super().__call__(run, ds, folder)

    ready = Path({runs!r}).parent / "ready"
    ready.mkdir(exist_ok=True)
    (ready / str(os.getpid())).touch()
    while len(list(ready.iterdir())) < 2:  # both runners start the plan together
        time.sleep(0.01)
    plan = plan_from_dict({{"name": "t", "models": ["s-ha", "c3d"], "test_years": [2015, 2016, 2017, 2018]}})
    trainer = Slow()
    run_plan(plan, FakeDataset(), runs_dir={runs!r}, train_fn=trainer, echo=lambda _: None)
    print(json.dumps(trainer.calls))
    """
)


def test_two_runner_processes_share_a_plan_and_train_each_run_once(fake_ds, store_env, tmp_path):
    script = _RUNNER.format(root=str(ROOT), runs=str(tmp_path / "runs"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    calls = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    trained = calls[0] + calls[1]
    assert sorted(trained) == sorted(set(trained)) and len(trained) == 8  # every run once, none twice
    assert calls[0] and calls[1]  # started together, each trained some of the runs
    records = ResultStore.for_dataset(fake_ds).read()
    assert len(records) == 8 and len({r["name"] for r in records}) == 8


def test_a_killed_runner_leaves_no_claim_behind(tmp_path):
    script = (
        f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
        "from geoapp.experiments.claim import claim_run\n"
        f"with claim_run({str(tmp_path)!r}, 'r1') as c:\n"
        "    print(c.held, flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "True"
        with claim_run(tmp_path, "r1") as while_alive:
            assert not while_alive.held and f"pid {proc.pid} on " in while_alive.holder
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with claim_run(tmp_path, "r1") as after:
        assert after.held


def test_the_eta_counts_only_runs_without_a_result_shared_among_the_runners_at_work(fake_ds, store_env, tmp_path):
    from geoapp.experiments.runner import _Eta, _shared_eta

    runs = PLAN.runs()  # s-ha 2016, 2017, 2018
    store = ResultStore.for_dataset(fake_ds)
    info = {"name": fake_ds.name, "fingerprint": fake_ds.fingerprint, "simulated": True}
    metrics = {"rmse": 5.0, "r2": 0.6, "n": 10, "year": 2016}
    store.append(make_record(runs[0], dataset=info, status=OK, plan="t", metrics=metrics, seconds=600.0))
    eta = _Eta(store.read())  # an s-ha run takes 10 min
    assert _shared_eta(eta, runs, tmp_path, store) == "20 min 00 s"  # 2016 has its result: 2017 and 2018 left
    with claim_run(tmp_path, runs[1].name):  # another runner has just begun 2017
        assert re.fullmatch(r"(10 min 00|9 min 59) s with 2 runners", _shared_eta(eta, runs, tmp_path, store))
        lock = lock_path(tmp_path, runs[1].name)
        info = json.loads(lock.read_text())
        assert abs(info["started"] - time.time()) < 60  # the claim's start in seconds since the epoch
        for minutes_ago, left in ((4, r"(8 min 00|7 min 59) s"), (30, r"5 min 00 s")):
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 60 * minutes_ago))
            older = {k: v for k, v in info.items() if k != "started"}  # as a claim made before it was recorded
            lock.write_text(json.dumps(older | {"since": since}))
            assert re.fullmatch(left + " with 2 runners", _shared_eta(eta, runs, tmp_path, store))
            lock.write_text(json.dumps(info | {"started": time.time() - 60 * minutes_ago}))  # preferred when there
            # 2018's 10 min, and what is left of 2017's 10 min (nothing after 30), shared by 2 runners
            assert re.fullmatch(left + " with 2 runners", _shared_eta(eta, runs, tmp_path, store))
            assert 60 * minutes_ago - 5 < training_seconds(tmp_path, runs[1].name) < 60 * minutes_ago + 5
        # from the runner that skipped 2017 and is now past it: 2017 still counts while it is held elsewhere
        assert _shared_eta(eta, runs[2:], tmp_path, store) == "10 min 00 s"
        assert _shared_eta(eta, runs[2:], tmp_path, store, passed=[runs[1]]) == "5 min 00 s with 2 runners"
        lock.write_text("")  # a holder that names nobody still counts as a runner, its run in full
        assert re.fullmatch(r"10 min 00 s with 2 runners", _shared_eta(eta, runs, tmp_path, store))
    assert training_seconds(tmp_path, runs[1].name) is None  # released: nobody trains it
