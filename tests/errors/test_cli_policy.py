"""The command line's error policy (issue 17, docs/errors.md).

Every command that fails prints one line on stderr, ``error: <what went wrong and what to do>``, and
exits non-zero: 2 for what the user can fix (a geoapp error; a file or device problem such as
permission denied, a folder where a file was expected, no space left), 1 for an internal error (a
bug), 130/143 when interrupted. ``python -m geoapp --debug ...`` prints the traceback first.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from geoapp import cli
from geoapp.errors import DataFileError
from geoapp.paths import REPO_ROOT


def run_module(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geoapp", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture
def failing_info(monkeypatch):
    """Make ``data info`` raise the exception given to the returned function."""

    def fail_with(exc: BaseException) -> None:
        def command(args):
            raise exc

        monkeypatch.setattr(cli, "_data_info", command)

    return fail_with


# ---- one line per kind of failure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "status", "line"),
    [
        (DataFileError("cube file 'x.nc' is garbled; rebuild it"), 2, "error: cube file 'x.nc' is garbled; rebuild it"),
        (
            PermissionError(errno.EACCES, "Permission denied", "/data/ds/cube.nc"),
            2,
            "error: permission denied on '/data/ds/cube.nc': fix its permissions or choose another location",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "/data/ds"),
            2,
            "error: '/data/ds' is a folder where a file was expected: give a file's path",
        ),
        (
            NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/file.txt/x"),
            2,
            "error: '/data/file.txt/x': part of the path is a file, not a folder; check the path",
        ),
        (FileNotFoundError(errno.ENOENT, "No such file", "m.csv"), 2, "error: no such file or folder: 'm.csv'; check the path"),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/ro/ds"),
            2,
            "error: '/mnt/ro/ds' is on a read-only filesystem: choose another location",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/ds/cube.nc"),
            2,
            "error: no space left on device while writing '/data/ds/cube.nc': free space or choose another location",
        ),
        (
            OSError(errno.EIO, "Input/output error"),
            2,
            "error: Input/output error; check the path and the device, or rerun with --debug",
        ),
        (
            RuntimeError("boom\nsecond line"),
            1,
            "error: internal error: RuntimeError: boom; rerun with --debug and report it",
        ),
        (KeyError("band"), 1, "error: internal error: KeyError: 'band'; rerun with --debug and report it"),
        (
            MemoryError(),
            1,
            "error: out of memory; use a smaller configuration or dataset, or a machine with more memory",
        ),
        (KeyboardInterrupt(), 130, "error: interrupted; nothing half-written was kept"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else None,
)
def test_every_failure_is_one_line(failing_info, capsys, exc, status, line):
    failing_info(exc)
    assert cli.main(["data", "info"]) == status
    assert one_line(capsys) == line


def test_debug_adds_the_traceback(failing_info, capsys):
    failing_info(RuntimeError("boom"))
    assert cli.main(["--debug", "data", "info"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "RuntimeError: boom" in err
    assert err.strip().splitlines()[-1] == "error: internal error: RuntimeError: boom; rerun with --debug and report it"


def test_a_command_with_out_says_choose_another_out(monkeypatch, capsys, tmp_path):
    import geoapp.data.ingest as ingest_pkg

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name: the --out is named

    monkeypatch.setattr(ingest_pkg, "ingest_manifest", no_space)
    assert cli.main(["data", "ingest", "--manifest", "m.csv", "--out", str(tmp_path / "c.nc")]) == 2
    assert one_line(capsys) == (
        f"error: no space left on device while writing '{tmp_path / 'c.nc'}': free space or choose another --out"
    )


def test_sigterm_unwinds_like_ctrl_c(monkeypatch, capsys, tmp_path):
    from geoapp.fileio import atomic_folder

    def command(args):
        with atomic_folder(tmp_path / "ds") as tmp:
            (tmp / "cube.nc").write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM should have stopped the command")

    monkeypatch.setattr(cli, "_data_info", command)
    assert cli.main(["data", "info"]) == 143
    assert one_line(capsys) == "error: stopped by SIGTERM; nothing half-written was kept"
    assert list(tmp_path.iterdir()) == []  # the temporary folder was removed on the way out
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_warnings_are_one_line(monkeypatch, capsys):
    import warnings

    shown = []

    def command(args):
        shown.append(warnings.formatwarning("12.0% of ndvi values lie outside the plausible -1..1", UserWarning, "b.py", 9))
        return 0

    monkeypatch.setattr(cli, "_data_info", command)
    assert cli.main(["data", "info"]) == 0
    assert shown == ["warning: 12.0% of ndvi values lie outside the plausible -1..1\n"]
    assert cli.main(["--debug", "data", "info"]) == 0  # with --debug: Python's form, with the file and line
    assert shown[-1].startswith("b.py:9: UserWarning: 12.0%")


# ---- as a user runs it ------------------------------------------------------------------------------


def test_python_m_geoapp_debug_flag(tmp_path):
    proc = run_module("data", "info", "--path", str(tmp_path / "absent"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: dataset folder") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_module("--debug", "data", "info", "--path", str(tmp_path / "absent"))
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr and "MissingDataError" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: dataset folder")


def test_help_mentions_debug_and_the_error_policy(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "--debug" in out and "docs/errors.md" in out


# ---- checks of values the commands take ---------------------------------------------------------------


def test_jobs_show_refuses_a_negative_line_count(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEOAPP_JOBS_DIR", str(tmp_path / "jobs"))
    assert cli.main(["jobs", "show", "20261122-021500-123456", "--lines", "-3"]) == 2
    assert one_line(capsys) == "error: --lines must be at least 1, got -3"
    assert cli.main(["jobs", "show", "20261122-021500-123456", "--lines", "0"]) == 2
    assert one_line(capsys) == "error: --lines must be at least 1, got 0"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "three"}, "epochs must be a whole number, got 'three' (str)"),
        ({"epochs": 2.5}, "epochs must be a whole number, got 2.5 (float)"),
        ({"lr": "fast"}, "lr must be a number, got 'fast' (str)"),
        ({"lr": True}, "lr must be a number, got True (bool)"),
        ({"seed": None}, "seed must be a whole number, got None (NoneType)"),
        ({"device": 0}, "device must be text, got 0 (int)"),
        ({"model_overrides": {"alpha": "high"}}, "model_overrides['alpha'] must be a number, got 'high' (str)"),
    ],
)
def test_train_yield_config_file_values_are_type_checked(tmp_path, capsys, values, message):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(values))
    assert cli.main(["train", "yield", "--config", str(path)]) == 2
    assert one_line(capsys) == f"error: yield-training config: {message}"


def test_a_whole_float_is_taken_for_an_int(tmp_path):
    from geoapp.training.yield_trainer import YieldTrainConfig

    assert YieldTrainConfig.from_dict({"epochs": 3.0}).epochs == 3


def test_train_location_bad_values_name_the_field(tmp_path, capsys):
    assert cli.main(["train", "location", "--image-width", "0"]) == 2
    assert one_line(capsys) == "error: image_width must be a positive integer, got 0"
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"image_width": "wide"}))
    assert cli.main(["train", "location", "--config", str(path)]) == 2
    assert one_line(capsys) == "error: location-training config: image_width must be a whole number, got 'wide' (str)"


@pytest.mark.parametrize("kind", ["yield", "location"])
def test_train_force_reaches_the_trainer(kind, monkeypatch, tmp_path):
    from geoapp.training import location_trainer, yield_trainer

    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)
        return tmp_path / "best"

    monkeypatch.setattr(yield_trainer, "train_yield", record)
    monkeypatch.setattr(location_trainer, "train_location", record)
    monkeypatch.setattr(cli, "_dataset_arg", lambda path: type("DS", (), {"root": tmp_path, "years": list(range(2003, 2019))})())
    assert cli.main(["train", kind, "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert seen["force"] is False
    assert cli.main(["train", kind, "--out", str(tmp_path / "run"), "--force", "--quiet"]) == 0
    assert seen["force"] is True


@pytest.mark.parametrize("flush", [True, False], ids=["flushed-lines", "buffered-output"])
def test_a_reader_that_stops_early_is_not_an_error(flush):
    """``python -m geoapp ... | head -1``: the reader has what it wanted; no error line, status 141 as a shell's tools.

    Buffered: what is left in stdout's buffer when the command returns is written before ``main`` returns,
    not by Python at exit (which would print "Exception ignored ... BrokenPipeError" and exit 120).
    """
    code = (
        "import sys, time\n"
        "from geoapp import cli\n"
        "def command(args):\n"
        "    print('line 0', flush=True)\n"
        "    time.sleep(0.5)  # the reader reads its line and goes\n"
        "    for i in range(1, 300):  # less than stdout's buffer: it leaves main unwritten\n"
        f"        print(f'line {{i}}', flush={flush})\n"
        "    return 0\n"
        "cli._data_info = command\n"
        "sys.exit(cli.main(['data', 'info']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline() == "line 0\n"
    proc.stdout.close()  # as head does after its line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == cli.EXIT_PIPE_CLOSED and err == ""


def test_a_broken_pipe_that_is_not_stdout_is_still_reported():
    """A pipe of the command's own breaks while stdout's reader is still there: the error line, status 2."""
    code = (
        "import errno, sys\n"
        "from geoapp import cli\n"
        "def command(args):\n"
        "    print('working', flush=True)\n"
        "    raise BrokenPipeError(errno.EPIPE, 'Broken pipe')\n"
        "cli._data_info = command\n"
        "sys.exit(cli.main(['data', 'info']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "working\n"
    assert proc.stderr.strip() == "error: Broken pipe; check the path and the device, or rerun with --debug"
