"""Long jobs are generators that yield progress and return a result; this drains them.

Blocking workflow calls (``size_particles``, ``predict_scan``) take ``cancel=``
instead: a ``threading.Event`` or a callable checked between their stages, which
raise :class:`Cancelled` when it is set.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

__all__ = ["drain", "Cancelled", "check_cancelled"]

R = TypeVar("R")


def drain(gen: Generator[object, None, R]) -> R:
    """Run ``gen`` to the end, dropping what it yields, and return what it returns.

    Examples
    --------
    >>> def job():
    ...     yield "half way"
    ...     return 42
    >>> drain(job())
    42
    """
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


class Cancelled(Exception):
    """A workflow call stopped because its ``cancel`` flag was set (nothing is returned)."""


def check_cancelled(cancel, where: str = "") -> None:
    """Raise :class:`Cancelled` if ``cancel`` (an Event, a callable or None) is set.

    Parameters
    ----------
    cancel : threading.Event or callable or None
        ``cancel.is_set()`` or ``cancel()`` true means stop; None never stops.
    where : str
        The stage about to run, for the exception's message.

    Returns
    -------
    None

    Examples
    --------
    >>> import threading
    >>> flag = threading.Event()
    >>> check_cancelled(flag, "segmentation")
    >>> flag.set()
    >>> check_cancelled(flag, "segmentation")
    Traceback (most recent call last):
    ...
    napari_sciseg._generators.Cancelled: cancelled before segmentation
    """
    if cancel is None:
        return
    is_set = cancel.is_set() if hasattr(cancel, "is_set") else bool(cancel())
    if is_set:
        raise Cancelled(f"cancelled before {where}" if where else "cancelled")
