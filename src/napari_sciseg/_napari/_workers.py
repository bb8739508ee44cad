"""Run the core's generators in napari thread workers.

The core's long jobs (``iter_train``, ``iter_predict``, ...) are generators that
yield small progress records. Widgets run them through :func:`start_job`, which

- throttles the records so the GUI thread is woken at most a few times a second
  (each wake-up costs a signal, a progress-bar update and maybe a plot redraw),
- shows a progress bar with ETA in napari's activity dock,
- turns an exception in the worker into a napari error notification,
- hands the generator's return value to ``on_return`` on the GUI thread.

Cancelling is cooperative: pass a :class:`threading.Event` to the core as
``cancel=`` and set it; the core stops within one step and still *returns* what
it has (``worker.quit()`` would drop the return value).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker
from napari.utils import progress
from napari.utils.notifications import show_error, show_warning

__all__ = ["throttle", "start_job", "progress_of", "JobStep", "wait_for_call",
           "job_kwargs_or_none"]

logger = logging.getLogger(__name__)


def throttle(gen: Iterator, min_interval: float = 0.1) -> Generator[Any, None, Any]:
    """Forward the items of ``gen`` at most once per ``min_interval`` seconds.

    The last item before ``gen`` ends is always forwarded, and ``gen``'s return
    value is returned, so ``yield from throttle(...)`` is transparent.

    Examples
    --------
    >>> def count():
    ...     yield from range(1000)
    ...     return "done"
    >>> items = []
    >>> def consume():
    ...     result = yield from throttle(count(), min_interval=10.0)
    ...     items.append(result)
    >>> list(consume())
    [0, 999]
    >>> items
    ['done']
    """
    last = -float("inf")
    pending: list = []
    try:
        while True:
            try:
                item = next(gen)
            except StopIteration as stop:
                if pending:
                    yield pending[0]
                return stop.value
            now = time.monotonic()
            if now - last >= min_interval:
                pending.clear()
                last = now
                yield item
            else:
                pending[:] = [item]
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class JobStep:
    """Progress of a widget's multi-stage job: stage ``done`` of ``total``, doing ``what``."""

    done: int
    total: int
    what: str


def wait_for_call(fn: Callable[[], Any], *, cancel, what: str, poll: float = 0.1):
    """Generator: run ``fn()`` (one blocking core call) in a helper thread, wait for it.

    Yields a :class:`JobStep` every ``poll`` seconds so the worker stays
    responsive; when ``cancel`` (a ``threading.Event``) is set, returns ``None``
    at once and the call's result is dropped (a core call that takes the same
    ``cancel`` stops at its next check with :class:`~napari_sciseg._generators.Cancelled`;
    one that does not finishes in the background). Returns ``fn()``'s value, ``None``
    when it was cancelled, or raises its exception.
    """
    import threading

    from .._generators import Cancelled

    box: dict = {}

    def call():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the worker thread below
            box["error"] = exc

    thread = threading.Thread(target=call, name=f"sciseg {what}", daemon=True)
    thread.start()
    while thread.is_alive():
        if cancel is not None and cancel.is_set():
            return None
        yield JobStep(0, 1, what)
        thread.join(poll)
    if isinstance(box.get("error"), Cancelled):
        return None
    if "error" in box:
        raise box["error"]
    yield JobStep(1, 1, what)
    return box["value"]


def progress_of(record) -> tuple[int, int]:
    """``(done, total)`` of a core progress record (training or prediction)."""
    if hasattr(record, "total_steps"):
        return int(record.step), int(record.total_steps)
    return int(getattr(record, "done", 0)), int(getattr(record, "total", 0))


def _job(make_gen: Callable[[], Iterator], min_interval: float):
    return (yield from throttle(make_gen(), min_interval))


def start_job(
    make_gen: Callable[[], Iterator],
    *,
    desc: str,
    on_yield: Callable[[Any], None] | None = None,
    on_return: Callable[[Any], None] | None = None,
    on_finish: Callable[[], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    min_interval: float = 0.1,
    show_progress: bool = True,
) -> GeneratorWorker:
    """Run ``make_gen()`` (called in the worker thread) and wire it to the GUI.

    Parameters
    ----------
    make_gen : callable
        Called with no argument in the worker thread; returns the generator to run.
        Build every input (array copies, kwargs) *before* on the GUI thread.
    desc : str
        Title of the activity-dock progress bar and of error messages.
    on_yield, on_return, on_finish : callable, optional
        Run on the GUI thread for each (throttled) record, for the return value,
        and at the very end (after success, error or abort).
    on_error : callable, optional
        Run on the GUI thread with the exception when the job fails (after the error
        notification); connected before the worker starts, so a job that fails at
        once is not missed.
    min_interval : float
        Shortest time in seconds between two records sent to the GUI thread.
    show_progress : bool
        Whether to show a progress bar in the activity dock.

    Returns
    -------
    GeneratorWorker
        Already started. Its ``errored`` signal shows a napari error notification.
    """
    # errors are shown by ``_errored`` below instead of being re-raised on the GUI thread
    worker = create_worker(_job, make_gen, min_interval, _start_thread=False, _ignore_errors=True)
    pbar = progress(total=0, desc=desc) if show_progress else None

    def _yielded(record):
        if on_yield is not None:
            on_yield(record)
        # Last: napari's progress bar runs processEvents() on update, which may handle the
        # next records (or the return value) re-entrantly; this record is fully handled.
        if pbar is not None:
            done, total = progress_of(record)
            if total and pbar.total != total:
                pbar.total = total
            if done > pbar.n:
                pbar.update(done - pbar.n)

    def _errored(exc: BaseException):
        logger.warning("%s failed: %s", desc, exc, exc_info=exc)
        show_error(f"{desc} failed: {exc}")

    def _finished():
        if pbar is not None:
            pbar.close()
        if on_finish is not None:
            on_finish()

    worker.yielded.connect(_yielded)
    if on_return is not None:
        worker.returned.connect(on_return)
    worker.errored.connect(_errored)
    if on_error is not None:
        worker.errored.connect(on_error)
    worker.finished.connect(_finished)
    worker.start()
    return worker


def job_kwargs_or_none(widget, status) -> dict | None:
    """A dock's job arguments, or ``None`` when its job runs already or a field is wrong.

    Parameters
    ----------
    widget : QWidget
        A dock with ``worker`` (the running worker or ``None``) and ``job_kwargs()``,
        which raises ``ValueError`` naming the field that is wrong.
    status : QLabel
        Where the error is shown (it is also a napari warning).

    Returns
    -------
    dict or None
        ``widget.job_kwargs()``, or ``None`` when nothing should start.
    """
    if widget.worker is not None and widget.worker.is_running:
        return None
    try:
        return widget.job_kwargs()
    except ValueError as err:
        status.setText(str(err))
        show_warning(str(err))
        return None
