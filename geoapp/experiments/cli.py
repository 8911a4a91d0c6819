"""``python -m geoapp experiments run|report|export|status|collect|calibrate|validation|budget``: the paper's study from a shell.

- ``run --plan NAME`` (or ``--plan-file F``): train and score every run of the plan without a result
  (resumable; ``--dry-run`` lists them; ``--models`` runs some of the plan's models only).
- ``report``: write the tables and figures of a plan (default ``paper``) to ``docs/experiments.md``.
- ``export``: a plan's results as CSV, one row per run, each naming its dataset and whether it is simulated.
- ``status``: per plan, how many runs are done, failed and missing.
- ``collect``: move the Experiments page's job queue on (score finished jobs, start the next);
  ``--follow`` keeps doing so until the queue is empty.
- ``calibrate`` / ``validation`` / ``budget``: add to the finished runs that lack them their scores with
  each residual calibration / their scores on the validation year / their error budget (simulated data:
  the share of each yield term they miss).

:func:`add_subcommands` adds the ``experiments`` group to geoapp's command line; :func:`main` runs it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geoapp.errors import GeoappError, InputError

__all__ = ["add_subcommands", "handle", "main"]


def _dataset(path: str | None, verify: bool = False):
    """The dataset folder given, or the embedded demo; ``verify``: refuse one whose files changed since its card."""
    from geoapp.data.dataset import default_dataset_path, load_dataset

    ds = load_dataset(path or default_dataset_path("demo"))
    if verify:
        try:
            ds.verify_fingerprint()
        except BaseException:
            ds.close()
            raise
    return ds


def _plan(args: argparse.Namespace):
    from geoapp.experiments.plan import get_plan, load_plan_file

    if args.plan_file:
        if args.plan:
            raise InputError("give --plan NAME or --plan-file FILE, not both")
        plan = load_plan_file(args.plan_file)
    else:
        plan = get_plan(args.plan or "paper")
    if getattr(args, "models", None):
        plan = plan.only([m.strip() for m in args.models.split(",") if m.strip()])
    return plan


def _store(args: argparse.Namespace, ds):
    from geoapp.experiments.store import ResultStore

    return ResultStore.for_dataset(ds, Path(args.store) if args.store else None)


def _run(args: argparse.Namespace) -> int:
    from geoapp.experiments.runner import run_plan

    cpus = _cpus()
    if not 1 <= args.workers <= cpus:
        raise InputError(f"--workers must be a whole number from 1 to this machine's {cpus} CPUs, got {args.workers}")
    if args.workers > 1 and not args.dry_run:
        return _run_workers(args)
    plan = _plan(args)
    ds = _dataset(args.dataset, verify=not args.dry_run)
    label = f"{args.worker_label} " if args.worker_label else ""
    try:
        summary = run_plan(
            plan,
            ds,
            store=_store(args, ds),
            runs_dir=args.runs_dir,
            dry_run=args.dry_run,
            echo=lambda s: print(label + s, flush=True),
        )
    finally:
        ds.close()
    return 1 if summary.failed else 0


def _cpus() -> int:
    """CPUs this process may run on (its affinity, which containers and ``taskset`` narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _die_with_parent() -> None:
    """In a worker, before it runs: SIGTERM when the process that started it dies, even SIGKILLed (Linux)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a killed parent leaves its workers to finish
        pass


def _run_workers(args: argparse.Namespace) -> int:
    """``--workers N``: N runner processes on one plan, the CPU threads split among them.

    The plan and the dataset are checked first (one clear error, no worker started). This process
    then starts N - 1 others (``experiments run ... --workers 1``) and runs the plan itself; the runs'
    claims keep them from training a run twice. Each progress line starts with its worker's label
    (``w1`` .. ``wN``). Interrupting (Ctrl-C, SIGTERM) stops every worker (each keeps what it
    finished; a half-trained run resumes next time), and a worker stops when this process dies, even
    killed. Returns 1 when any worker had a failed run or stopped with an error.
    """
    import subprocess

    from geoapp.experiments.plan import check_plan

    ds = _dataset(args.dataset, verify=True)
    try:
        check_plan(_plan(args), ds.years)
    finally:
        ds.close()
    n = args.workers
    threads = max(1, _cpus() // n)
    forwarded = []
    for flag, value in (
        ("--plan", args.plan),
        ("--plan-file", args.plan_file),
        ("--dataset", args.dataset),
        ("--store", args.store),
        ("--runs-dir", args.runs_dir),
        ("--models", args.models),
    ):
        if value:
            forwarded += [flag, str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    print(f"{n} workers on the plan, {threads} CPU thread(s) each", flush=True)
    command = [sys.executable, "-m", "geoapp", "experiments", "run", *forwarded, "--workers", "1"]
    children: list[subprocess.Popen] = []
    try:
        for i in range(2, n + 1):
            children.append(subprocess.Popen([*command, "--worker-label", f"w{i}"], env=env, preexec_fn=_die_with_parent))
        import torch

        torch.set_num_threads(threads)
        args.workers, args.worker_label = 1, "w1"
        status = _run(args)
        codes = [child.wait() for child in children]
    except BaseException:
        for child in children:
            if child.poll() is None:
                child.terminate()  # each worker unwinds as on Ctrl-C: nothing half-written is kept
        deadline = time.monotonic() + 60
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        raise
    bad = [f"w{i} (exit status {code})" for i, code in enumerate(codes, start=2) if code != 0]
    if bad:
        print(f"workers with failed runs or errors: {', '.join(bad)}", flush=True)
    return 1 if status or bad else 0


def _report(args: argparse.Namespace) -> int:
    from geoapp.experiments.report import noise_floor_by_year, write_report
    from geoapp.paths import REPO_ROOT

    plan = _plan(args)
    ds = _dataset(args.dataset)
    try:
        store = _store(args, ds)
        records = store.read()
        info = dict(store.dataset)
        floors = noise_floor_by_year(ds)
        if floors:
            info["noise_floor_by_year"] = floors
    finally:
        ds.close()
    out = write_report(plan, records, info, args.out or REPO_ROOT / "docs" / "experiments.md", store=_shown(store.path))
    print(f"wrote {out}")
    return 0


def _shown(path: Path) -> str:
    from geoapp.paths import REPO_ROOT

    try:
        return str(path.absolute().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _export(args: argparse.Namespace) -> int:
    from geoapp.experiments.report import results_csv, results_frame
    from geoapp.fileio import atomic_write_text

    plan = _plan(args)
    ds = _dataset(args.dataset)
    try:
        store = _store(args, ds)
        records = store.read()
    finally:
        ds.close()
    frame = results_frame(records, plan)
    out = Path(args.out or f"{store.dataset['name']}-{plan.name}-results.csv")
    atomic_write_text(out, results_csv(frame, store.dataset))
    data = "SIMULATED data" if store.dataset.get("simulated") else "real data"
    print(f"wrote {out} ({len(frame)} of {len(plan.runs())} runs of plan {plan.name!r}, {data})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from geoapp.experiments.plan import PLANS
    from geoapp.experiments.report import missing_hours, missing_runs, results_frame
    from geoapp.experiments.store import runs_root

    plans = [_plan(args)] if (args.plan or args.plan_file) else list(PLANS.values())
    ds = _dataset(args.dataset)
    try:
        records = _store(args, ds).read()
    finally:
        ds.close()
    runs_dir = Path(args.runs_dir) if args.runs_dir else runs_root(ds.name)
    for plan in plans:
        missing = missing_runs(plan, records, runs_dir)
        failed = int(missing["status"].str.startswith("failed").sum())
        training = int(missing["status"].str.startswith("training").sum())
        total = len(plan.runs())
        hours, unknown = missing_hours(results_frame(records), missing) if len(missing) else (0.0, 0)
        counted = len(missing) - unknown
        left = f"; about {hours:.1f} h of one runner left at the median time per model" if counted else ""
        if unknown:
            left += f" ({unknown} runs of models not timed yet not counted)" if counted else "; its models have no timed run yet"
        print(
            f"{plan.name}: {total - len(missing)} done, "
            + (f"{training} training now, " if training else "")
            + f"{failed} failed, {len(missing) - failed - training} missing of {total}"
            + left
        )
        if args.verbose:
            for _, row in missing.iterrows():
                print(f"  {row['name']}: {row['status']}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from geoapp.experiments.queue import advance

    ds = _dataset(args.dataset)
    try:
        store = _store(args, ds)
        while True:
            step = advance(ds, store)
            for name in step["collected"]:
                print(f"collected {name}", flush=True)
            for name in step["failed"]:
                print(f"failed {name}", flush=True)
            if step["started"]:
                print(f"started {step['started']}", flush=True)
            if not args.follow or (step["running"] is None and step["waiting"] == 0):
                break
            time.sleep(args.poll_s)
    finally:
        ds.close()
    print(f"queue: {'running ' + step['running'] if step['running'] else 'no job running'}, {step['waiting']} waiting")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from geoapp.experiments.runner import calibrate_results

    return _backfill(args, calibrate_results, "calibrated scores")


def _validation(args: argparse.Namespace) -> int:
    from geoapp.experiments.runner import validation_results

    return _backfill(args, validation_results, "validation-year scores")


def _budget(args: argparse.Namespace) -> int:
    from geoapp.experiments.runner import budget_results

    return _backfill(args, budget_results, "error budgets")


def _backfill(args: argparse.Namespace, fill: Any, what: str) -> int:
    """Run a backfill of the runner (``calibrate_results``, ``validation_results``, ``budget_results``); one line per run."""
    ds = _dataset(args.dataset)
    try:
        done = fill(_store(args, ds), ds, echo=lambda line: print(line, flush=True))
    finally:
        ds.close()
    print(f"{what} added to {len(done)} runs")
    return 0


def _common(p: argparse.ArgumentParser, plan_default: str | None) -> None:
    from geoapp.experiments.plan import PLANS

    p.add_argument("--plan", choices=list(PLANS), default=None, help=f"a named plan (default: {plan_default or 'every plan'})")
    p.add_argument(
        "--plan-file", help="a plan as a JSON file (models, test_years, n_train_years, seeds, exclude_groups, overrides)"
    )
    p.add_argument("--dataset", help="dataset folder (default: the embedded demo)")
    p.add_argument("--store", help="results store file (default: experiments/<dataset name>/results.jsonl)")


def add_subcommands(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``experiments`` group (run, report, export, status, collect, calibrate, validation, budget) to ``subparsers``.

    Each command sets ``func``.
    """
    group = subparsers.add_parser("experiments", help="the paper's study: run plans of trainings, report their tables")
    commands = group.add_subparsers(
        dest="command", required=True, metavar="{run,report,export,status,collect,calibrate,validation,budget}"
    )
    p = commands.add_parser("run", help="train and score every run of a plan that has no result yet (resumable)")
    _common(p, "paper")
    p.add_argument("--runs-dir", help="run folders' parent (default: data/experiments/<dataset name>/runs)")
    p.add_argument("--models", help="only these of the plan's models, comma-separated (e.g. semi-ha,s-ha)")
    p.add_argument("--dry-run", action="store_true", help="list the runs that would train, train nothing")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="runner processes sharing the plan, the CPU threads split among them (default 1; e.g. one per core)",
    )
    p.add_argument("--worker-label", help=argparse.SUPPRESS)
    p.set_defaults(func=_run)
    p = commands.add_parser("report", help="write a plan's tables and figures to docs/experiments.md")
    _common(p, "paper")
    p.add_argument("--out", help="the markdown file (default: docs/experiments.md); its part above the marker is kept")
    p.set_defaults(func=_report)
    p = commands.add_parser("export", help="a plan's results as CSV, one row per run (labelled simulated or real)")
    _common(p, "paper")
    p.add_argument("--out", help="the CSV file (default: <dataset name>-<plan>-results.csv here)")
    p.set_defaults(func=_export)
    p = commands.add_parser("status", help="per plan: runs done, training now, failed, missing")
    _common(p, None)
    p.add_argument(
        "--runs-dir", help="run folders' parent, to see which runs train now (default: data/experiments/<dataset name>/runs)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list each missing, training or failed run")
    p.set_defaults(func=_status)
    p = commands.add_parser("collect", help="score the queued jobs that finished, start the next (the Experiments page's queue)")
    p.add_argument("--dataset", help="dataset folder (default: the embedded demo)")
    p.add_argument("--store", help="results store file (default: experiments/<dataset name>/results.jsonl)")
    p.add_argument("--follow", action="store_true", help="keep going until the queue is empty")
    p.add_argument("--poll-s", type=float, default=30.0, help="seconds between two checks with --follow")
    p.set_defaults(func=_collect)
    for name, func, text in (
        (
            "calibrate",
            _calibrate,
            "add each finished run's scores with a residual calibration (trend, county offsets) fitted to its training years",
        ),
        (
            "validation",
            _validation,
            "add each finished run's scores on its validation year (what a choice between settings may look at)",
        ),
        (
            "budget",
            _budget,
            "simulated data: add each finished run's error budget (the share of each simulated yield term it misses)",
        ),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("--dataset", help="dataset folder (default: the embedded demo)")
        p.add_argument("--store", help="results store file (default: experiments/<dataset name>/results.jsonl)")
        p.set_defaults(func=func)
    return group


def handle(args: argparse.Namespace) -> int:
    """Run the parsed ``experiments`` command; returns the exit status."""
    return args.func(args)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m geoapp.experiments.cli <command> ...``: the group on its own (errors: one line, status 2)."""
    parser = argparse.ArgumentParser(prog="python -m geoapp.experiments.cli")
    add_subcommands(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["experiments", *(sys.argv[1:] if argv is None else argv)])
    try:
        return handle(args)
    except GeoappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
