"""Run the data side's independent pieces of work (a simulated year, a raster slot) in parallel with dask.

:func:`run_tasks` maps a function over items and yields each result as it is ready, so the caller can
write it (one writer, :class:`~geoapp.data.cube_store.CubeWriter`) and drop it before more arrive:
at most ``in_flight`` results exist at a time, which bounds memory whatever the number of items.

- Default: dask's local threaded scheduler (numpy, GDAL and zlib release the GIL), items in
  batches of ``in_flight``.
- ``scheduler="tcp://host:8786"``: an existing dask.distributed cluster; items are submitted as
  futures, ``in_flight`` at a time, results yielded as they complete. The workers must be able to
  import geoapp and read the input files (a raster manifest's paths) at the same paths. An address
  that does not answer is a :class:`~geoapp.errors.DataFileError` naming it within
  :data:`CONNECT_TIMEOUT_S` seconds.

A progress bar (tqdm, on stderr) counts finished items.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

from geoapp.data.args import as_int, given
from geoapp.errors import DataFileError, InputError

__all__ = ["CONNECT_TIMEOUT_S", "run_tasks", "local_threads", "check_scheduler", "probe_scheduler", "connect"]

CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a dask scheduler to answer before giving up."""

T = TypeVar("T")
R = TypeVar("R")


def local_threads() -> int:
    """Threads dask's local scheduler uses: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_scheduler(address: object) -> str | None:
    """``address`` as text (``tcp://host:port``, ``host:port``), or None for local threads.

    Raises:
        InputError: ``address`` is neither None nor non-empty text.
    """
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip():
        raise InputError(f"scheduler must be a dask scheduler address such as tcp://10.0.0.5:8786, got {given(address)}")
    return address.strip()


def probe_scheduler(address: object) -> str | None:
    """Check, before any work, that the scheduler at ``address`` answers (None: local threads, nothing to check).

    Raises:
        InputError: ``address`` is not text.
        DataFileError: it does not answer within :data:`CONNECT_TIMEOUT_S` seconds (named).
    """
    address = check_scheduler(address)
    if address is not None:
        connect(address).close()
    return address


def run_tasks(
    fn: Callable[..., R],
    items: Sequence[T],
    *,
    shared: dict[str, Any] | None = None,
    scheduler: str | None = None,
    in_flight: int | None = None,
    progress: bool = True,
    desc: str = "tasks",
    unit: str = "task",
) -> Iterator[tuple[T, R]]:
    """Yield ``(item, fn(item, **shared))`` for every item, computed in parallel with dask.

    Args:
        fn: a module-level function (it is pickled for a distributed cluster).
        items: the pieces of work (small, picklable: a year, a manifest row).
        shared: keyword arguments every call gets (large arrays are sent to a cluster once).
        scheduler: None for dask's local threads, or the address of a dask.distributed scheduler.
        in_flight: most items computed or held at a time (default: the threads available, local or
            on the cluster). The caller's memory holds at most this many results.
        progress: show a progress bar over items (stderr).
        desc: the progress bar's label.
        unit: the progress bar's unit (one item).

    Raises:
        DataFileError: the scheduler at ``scheduler`` does not answer (named, within seconds).
        InputError: a bad argument. Errors raised by ``fn`` propagate unchanged.
    """
    scheduler = check_scheduler(scheduler)
    shared = dict(shared or {})
    if in_flight is not None:
        in_flight = as_int(in_flight, "in_flight", minimum=1)
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    try:
        if scheduler is None:
            yield from _run_local(fn, items, shared, in_flight or local_threads(), bar)
        else:
            yield from _run_distributed(fn, items, shared, scheduler, in_flight, bar)
    finally:
        bar.close()


def _run_local(fn: Callable[..., R], items: Sequence[T], shared: dict[str, Any], in_flight: int, bar) -> Iterator[tuple[T, R]]:
    """Batches of ``in_flight`` items on dask's threaded scheduler."""
    import dask

    task = dask.delayed(fn, pure=False)
    for start in range(0, len(items), in_flight):
        batch = items[start : start + in_flight]
        if len(batch) == 1:  # no thread hop for a single item
            results: Sequence[R] = [fn(batch[0], **shared)]
        else:
            results = dask.compute(*(task(item, **shared) for item in batch), scheduler="threads", num_workers=len(batch))
        results = list(results)
        for item in batch:
            bar.update(1)
            yield item, results.pop(0)  # dropped here: only the caller holds it now
        del results  # nothing of this batch is kept while the next one is computed


def _run_distributed(
    fn: Callable[..., R], items: Sequence[T], shared: dict[str, Any], address: str, in_flight: int | None, bar
) -> Iterator[tuple[T, R]]:
    """Futures on an existing dask.distributed cluster, ``in_flight`` at a time."""
    from distributed import as_completed

    client = connect(address)
    try:
        if in_flight is None:
            in_flight = max(1, sum(client.nthreads().values()))
        scattered = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
        pending = iter(items)
        futures = {}
        for item in _take(pending, in_flight):
            futures[client.submit(fn, item, **scattered, pure=False)] = item
        done = as_completed(list(futures), loop=client.loop)
        for future in done:
            item = futures.pop(future)
            result = future.result()
            future.release()
            for nxt in _take(pending, 1):
                new = client.submit(fn, nxt, **scattered, pure=False)
                futures[new] = nxt
                done.add(new)
            bar.update(1)
            yield item, result
            del result  # only the caller holds it now
    finally:
        client.close()


def connect(address: str):
    """A dask.distributed Client on the scheduler at ``address``.

    Raises:
        DataFileError: naming the address, when it does not answer within :data:`CONNECT_TIMEOUT_S`.
    """
    from distributed import Client

    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DataFileError(
            f"the dask scheduler at {address!r} does not answer ({type(exc).__name__}: {exc}); start one there "
            "(`dask scheduler`, then `dask worker ADDRESS` on each machine), check the address and port, or leave "
            "--scheduler out to use this machine's threads"
        ) from None


def _take(iterator: Iterator[T], n: int) -> list[T]:
    out = []
    for _ in range(n):
        try:
            out.append(next(iterator))
        except StopIteration:
            break
    return out
