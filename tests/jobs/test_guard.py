"""The guard of short critical sections: an exclusive flock held for a ``with`` block that excludes other
processes and other opens in this one, is dropped by the kernel when its holder dies, and gives up with
a clear error (instead of hanging) when it stays busy."""

from __future__ import annotations

import pytest

from geoapp.errors import InputError
from geoapp.jobs.guard import GuardTimeoutError, guarded


def _enter(path, timeout_s=0.0) -> bool:
    with guarded(path, "the test's file", timeout_s=timeout_s):
        return True


def test_a_guard_held_by_another_process_is_waited_for_then_refused_with_a_clear_error(tmp_path, guard_holder):
    path = tmp_path / "x.guard"
    other = guard_holder(path)
    for timeout_s in (0.0, 0.05):  # tried once; tried again until the time is up
        with pytest.raises(
            GuardTimeoutError, match=r"x.guard', which guards the test's file, has been held by another process for more than"
        ):
            _enter(path, timeout_s)
    other.let_go()
    assert _enter(path)  # free again once the other process has left its block


def test_a_holder_killed_inside_its_block_leaves_no_guard_behind(tmp_path, guard_holder):
    path = tmp_path / "x.guard"
    other = guard_holder(path)
    other.kill()
    assert _enter(path)
    assert path.exists() and path.read_bytes() == b""  # the guard file stays, and holds nothing


def test_two_opens_in_one_process_exclude_each_other(tmp_path):
    """flock belongs to the open file: two threads of the app (two sessions) exclude each other too."""
    path = tmp_path / "x.guard"
    with guarded(path, "the test's file"):
        with pytest.raises(GuardTimeoutError):
            _enter(path)
    assert _enter(path)


def test_a_guard_is_let_go_when_its_block_raises(tmp_path):
    path = tmp_path / "x.guard"
    with pytest.raises(RuntimeError, match="inside"):
        with guarded(path, "the test's file"):
            raise RuntimeError("inside")
    assert _enter(path)


def test_guard_arguments_are_checked_before_anything_is_created(tmp_path):
    with pytest.raises(InputError, match="path must be a path"):
        _enter(None)
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(InputError, match="timeout_s must be a"):
            _enter(tmp_path / "x.guard", bad)
    assert list(tmp_path.iterdir()) == []
