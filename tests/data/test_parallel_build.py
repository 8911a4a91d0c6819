"""Builds on dask: local threads, a dask.distributed cluster, a scheduler that does not answer, a build killed half-way."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from geoapp.data import parallel
from geoapp.data.cube import open_cube
from geoapp.data.cube_store import PACKING
from geoapp.data.dataset import build_default_dataset, load_dataset
from geoapp.data.parallel import run_tasks
from geoapp.data.simulate import write_simulation
from geoapp.errors import DataFileError, MissingDataError
from geoapp.paths import REPO_ROOT
from tests.conftest import TINY


def _square(item: int, offset: np.ndarray) -> int:
    return item * item + int(offset.sum())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_tasks_local_threads_in_batches():
    seen = list(run_tasks(_square, list(range(7)), shared={"offset": np.ones(3)}, in_flight=3, progress=False))
    assert seen == [(i, i * i + 3) for i in range(7)]


def test_the_simulated_cube_streamed_by_year_equals_the_in_memory_one(tiny_sim, tmp_path):
    tables = write_simulation(TINY, tmp_path / "cube.nc", progress=False)
    pd.testing.assert_frame_equal(tables.yields, tiny_sim.yields)
    pd.testing.assert_frame_equal(tables.counties, tiny_sim.counties)
    with open_cube(tmp_path / "cube.nc") as cube:
        for band in ("ndvi", "ppt", "sand"):
            np.testing.assert_allclose(cube[band].values, tiny_sim.cube[band].values, atol=0.51 * PACKING[band][0])


def test_a_scheduler_that_does_not_answer_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(DataFileError, match=rf"the dask scheduler at '{address}' does not answer .*leave --scheduler out"):
        write_simulation(TINY, tmp_path / "cube.nc", progress=False, scheduler=address)
    assert not list(tmp_path.iterdir())  # refused before any work


def test_a_build_on_a_distributed_cluster(tiny_sim, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        assert list(run_tasks(_square, [2, 3], shared={"offset": np.zeros(2)}, scheduler=cluster.scheduler_address,
                              progress=False)) in ([(2, 4), (3, 9)], [(3, 9), (2, 4)])  # fmt: skip
        tables = write_simulation(TINY, tmp_path / "cube.nc", progress=False, scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(tables.yields, tiny_sim.yields)
    write_simulation(TINY, tmp_path / "local.nc", progress=False)
    # Years are written in calendar order whatever order they finish in: the same bytes as a local build.
    assert (tmp_path / "cube.nc").read_bytes() == (tmp_path / "local.nc").read_bytes()
    with open_cube(tmp_path / "cube.nc") as cube:
        np.testing.assert_allclose(cube["evi"].values, tiny_sim.cube["evi"].values, atol=0.51 * PACKING["evi"][0])


_KILLED_BUILD = textwrap.dedent(
    """
    import os, signal, sys
    from geoapp.data import cube_store
    from geoapp.data.dataset import build_default_dataset
    from tests.conftest import TINY

    write_year, written = cube_store.CubeWriter.write_year, []

    def killed_after_some_years(self, *args, **kwargs):
        write_year(self, *args, **kwargs)
        written.append(args)
        if len(written) == 7:  # one year and a band of the next written
            os.kill(os.getpid(), signal.SIGKILL)

    cube_store.CubeWriter.write_year = killed_after_some_years
    build_default_dataset(TINY, progress=False, out_dir=sys.argv[1], force=True)
    """
)


def test_a_build_killed_half_way_leaves_no_dataset_and_a_rerun_completes(tmp_path):
    out = tmp_path / "corn_belt_sim_tiny"
    killed = subprocess.run([sys.executable, "-c", _KILLED_BUILD, str(out)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert not out.exists()  # nothing under the dataset's name
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert leftovers and all(name.startswith(".corn_belt_sim_tiny.tmp-") for name in leftovers)
    with pytest.raises(MissingDataError):
        load_dataset(out)

    build_default_dataset(TINY, progress=False, out_dir=out, force=False)
    assert [p.name for p in tmp_path.iterdir()] == ["corn_belt_sim_tiny"]  # the killed build's temporary removed
    ds = load_dataset(out)
    assert ds.verify_fingerprint() == ds.fingerprint
    before = ds.fingerprint
    ds.close()

    # Killed while replacing a complete dataset: the previous one stays, whole.
    killed = subprocess.run([sys.executable, "-c", _KILLED_BUILD, str(out)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    ds = load_dataset(out)
    assert ds.verify_fingerprint() == before
    ds.close()
