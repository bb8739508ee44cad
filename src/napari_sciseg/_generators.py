"""Long jobs are generators that yield progress and return a result; this drains them."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

__all__ = ["drain"]

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
