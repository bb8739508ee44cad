"""An advisory, exclusive lock per output folder, dropped by the OS when its process dies.

Public through :mod:`napari_sciseg.io.outputs`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from ._atomic import _remove, is_partial

logger = logging.getLogger(__name__)

#: name of the (hidden) lock file in an output folder.
LOCK_NAME = ".sciseg.lock"


class FolderBusyError(OSError):
    """Another run holds the lock of an output folder."""

    def __str__(self) -> str:  # the sentence, without "[Errno 28]"
        return str(self.strerror)

def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _describe(info: dict) -> str:
    parts = [f"process {info.get('pid', '?')}"]
    if info.get("host") and info.get("host") != socket.gethostname():
        parts.append(f"on {info['host']}")
    if info.get("command"):
        parts.append(f"running '{info['command']}'")
    if info.get("started"):
        parts.append(f"since {info['started']}")
    return " ".join(parts)


class FolderLock:
    """An advisory, exclusive lock on an output folder (see :func:`lock_folder`).

    Attributes
    ----------
    folder : Path
    took_over : str or None
        A sentence about the crashed run whose lock was taken over, else None.
    removed_partials : list of str
        Partial files of crashed runs that were removed.
    """

    def __init__(self, folder: Path, fd: int, took_over: str | None, removed: list[str]):
        self.folder = folder
        self._fd = fd
        self.took_over = took_over
        self.removed_partials = removed

    def release(self) -> None:
        """Empty the lock file (a clean end) and drop the lock."""
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = -1


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        with contextlib.suppress(OSError):
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def _read_info(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    if not raw.strip():
        return {}
    try:
        info = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return {"pid": "?"}
    return info if isinstance(info, dict) else {"pid": "?"}


def ensure_writable_folder(folder: str | Path) -> Path:
    """Create ``folder`` if needed; PermissionError when it cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"Output folder {folder} is a file; choose a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"Cannot create output folder {folder}: {exc.strerror or exc}. Choose another "
            "output folder."
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Output folder {folder} is not writable (read-only?); choose another output folder."
        )
    return folder


def acquire_folder_lock(folder: str | Path, *, command: str = "", wait: float = 0.0) -> FolderLock:
    """Lock ``folder`` for this process; see :func:`lock_folder` (call ``release()`` when done)."""
    folder = ensure_writable_folder(folder)
    lock_path = folder / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError as exc:
        raise PermissionError(
            f"Output folder {folder} is not writable (read-only?); choose another output folder."
        ) from exc
    deadline = time.monotonic() + max(0.0, wait)
    while not _try_lock(fd):
        if time.monotonic() >= deadline:
            holder = _read_info(fd)
            for _ in range(20):  # the holder writes its name just after it locks
                if holder:
                    break
                time.sleep(0.05)
                holder = _read_info(fd)
            os.close(fd)
            who = _describe(holder) if holder else "another process"
            raise FolderBusyError(
                errno.EBUSY,
                f"Output folder {folder} is in use by another sciseg run ({who}). Wait for it "
                "to finish, or choose another output folder; two runs never write into one "
                "folder at once.",
            )
        time.sleep(0.05)
    previous = _read_info(fd)
    took_over = None
    if previous and previous.get("pid") != os.getpid():
        pid = previous.get("pid")
        dead = (
            not isinstance(pid, int)
            or not _pid_alive(pid)
            or previous.get("host", socket.gethostname()) != socket.gethostname()
        )
        state = "no longer running" if dead else "which released its lock without finishing"
        took_over = (
            f"took over the lock of {folder} left by a run that stopped without finishing "
            f"({_describe(previous)}, {state})"
        )
    removed = []
    for p in sorted(folder.iterdir()):
        if is_partial(p):
            _remove(p)
            removed.append(p.name)
    if removed:
        extra = f"removed {len(removed)} partial file(s) of an interrupted run"
        took_over = f"{took_over}; {extra}" if took_over else extra
    if took_over:
        logger.warning("%s", took_over)
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command,
        "started": now_utc(),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(info).encode())
    os.fsync(fd)
    return FolderLock(folder, fd, took_over, removed)


@contextlib.contextmanager
def lock_folder(
    folder: str | Path, *, command: str = "", wait: float = 0.0
) -> Iterator[FolderLock]:
    """Hold an exclusive advisory lock on an output folder for the block.

    The folder is created if needed. The lock lives in the hidden file
    ``.sciseg.lock`` (holder's pid, host, command and start time) and is
    dropped by the operating system when the process ends, even by
    ``kill -9``; a lock file still naming a finished process is reported in
    ``FolderLock.took_over`` (and logged), and the partial files of that run
    are removed.

    Parameters
    ----------
    folder : str or Path
        The output folder.
    command : str
        What holds the lock, shown to a second run (e.g. ``"sciseg predict"``).
    wait : float
        Seconds to wait for a busy folder before giving up (default: refuse at once).

    Raises
    ------
    FolderBusyError
        Another live run holds the lock.
    PermissionError
        The folder cannot be created or written.
    """
    lock = acquire_folder_lock(folder, command=command, wait=wait)
    try:
        yield lock
    finally:
        lock.release()


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
