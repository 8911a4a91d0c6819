"""Items a page cannot use (a checkpoint, a dataset, a job), listed with their reason beside the usable ones.

Pages catch per item: one unreadable checkpoint card, dataset folder or job status never takes a page
down; it is collected as a :class:`Broken` and shown in an expander by :func:`show_broken`.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

__all__ = ["Broken", "reason_of", "show_broken"]


@dataclass(frozen=True)
class Broken:
    """An item a page cannot use: where it is (a path) and why."""

    path: str
    reason: str


def reason_of(exc: BaseException) -> str:
    """The reason to show for ``exc``: a geoapp error's own message, anything else prefixed with its type."""
    from geoapp.errors import GeoappError

    if isinstance(exc, GeoappError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def show_broken(broken: list[Broken], what: str = "checkpoint", where=None, hint: str | None = None) -> None:
    """An expander "N <what>s could not be read" listing each item with its reason (nothing when none).

    Args:
        broken: the items to list.
        what: what they are, singular ("checkpoint", "dataset", "job").
        where: the container to draw in (default: the main area; ``st.sidebar`` for the sidebar).
        hint: what the user can do about them, shown below the list.
    """
    if not broken:
        return
    where = where if where is not None else st
    n = len(broken)
    with where.expander(f"⚠️ {n} {what}{'s' if n != 1 else ''} could not be read", expanded=False):
        for item in broken:
            st.markdown(f"- `{item.path}`: {item.reason}")
        if hint:
            st.caption(hint)
