"""Output folders that never hold a half-written file or two runs' results.

Three pieces, used by every writer of this package (CLI and widgets alike):

- :func:`atomic_path` / :func:`atomic_open` / :func:`write_text` write to a
  hidden temporary name in the destination folder and rename it into place
  only when complete (``os.replace`` is atomic on one file system), so a file
  under its final name is always whole. A directory (a zarr store) is staged
  the same way. A full disk raises :class:`DiskFullError`, which names the
  disk, after removing the partial file.
- :func:`lock_folder` takes an advisory lock on an output folder for the
  length of a run, so a second run into the same folder is refused with a
  message that names the first. The operating system drops the lock when its
  process dies; the lock file left behind by a crashed run is detected, taken
  over and reported, and its partial files are removed.
- :class:`RunManifest` keeps ``run.json``: inputs, model hash, options,
  version and the finished outputs. It says ``"status": "running"`` while a
  run writes and is rewritten last with ``"complete"`` (or ``"interrupted"``,
  ``"failed"``), so a reader can tell a complete folder from a partial one.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with lock_folder(folder, command="example"):
...     with atomic_open(folder / "table.csv", "w") as fh:
...         _ = fh.write("a,b\\n1,2\\n")
>>> (folder / "table.csv").read_text()
'a,b\\n1,2\\n'
>>> [p.name for p in folder.iterdir() if p.name.startswith(".") and "partial" in p.name]
[]
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from ._atomic import (
    DiskFullError,
    atomic_open,
    atomic_path,
    is_partial,
    partial_name,
    read_model_container,
    write_model_container,
    write_text,
)
from ._folder_lock import (
    LOCK_NAME,
    FolderBusyError,
    FolderLock,
    acquire_folder_lock,
    ensure_writable_folder,
    lock_folder,
    now_utc,
)

__all__ = [
    "MANIFEST_NAME",
    "LOCK_NAME",
    "DiskFullError",
    "FolderBusyError",
    "FolderLock",
    "acquire_folder_lock",
    "ensure_writable_folder",
    "partial_name",
    "RunManifest",
    "atomic_open",
    "atomic_path",
    "read_model_container",
    "write_model_container",
    "file_digest",
    "is_partial",
    "lock_folder",
    "read_manifest",
    "write_text",
]

#: name of the run manifest in an output folder.
MANIFEST_NAME = "run.json"


def file_digest(path: str | Path, *, algorithm: str = "sha256") -> str:
    """Hex digest of a file, or of every file of a folder (names and contents, sorted)."""
    path = Path(path)
    h = hashlib.new(algorithm)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f != path:
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def read_manifest(folder: str | Path) -> dict | None:
    """The ``run.json`` of ``folder`` as a dict; None when missing or unreadable."""
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunManifest:
    """The ``run.json`` of one run: what went in, with which options, and what came out.

    Call :meth:`start` before writing outputs (the file then says
    ``"status": "running"``), :meth:`add` after each input's outputs are in
    place (thread-safe; the file is rewritten atomically each time) and
    :meth:`finish` last.

    Parameters
    ----------
    folder : str or Path
        The output folder.
    command : str
        E.g. ``"predict"``.
    options : dict
        The options that shape the outputs (JSON-serialisable).
    model : str or Path, optional
        A model file or folder; its path and SHA-256 are recorded.
    previous : dict, optional
        A manifest of an interrupted run that this one resumes: its finished
        entries are carried over.
    """

    def __init__(
        self,
        folder: str | Path,
        command: str,
        *,
        options: dict | None = None,
        model: str | Path | None = None,
        previous: dict | None = None,
    ):
        from .. import __version__

        self.folder = Path(folder)
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {
            "command": command,
            "version": __version__,
            "status": "running",
            "started": now_utc(),
            "finished": None,
            "inputs": [],
            # as run.json will hold them (paths as text), so runs compare alike
            "options": json.loads(json.dumps(dict(options or {}), default=str)),
            "model": None,
            "outputs": {},
            "records": {},
            "failed": {},
        }
        if model is not None:
            self.data["model"] = {"path": str(model), "sha256": file_digest(model)}
        if previous:
            self.data["outputs"] = dict(previous.get("outputs") or {})
            self.data["records"] = dict(previous.get("records") or {})

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def same_run(self, other: dict | None) -> str | None:
        """None when ``other`` was made by the same command, model and options; else why not."""
        if not other:
            return "the folder has no run.json"
        for key in ("command", "options"):
            if other.get(key) != self.data[key]:
                return f"its {key} differ ({other.get(key)!r} vs {self.data[key]!r})"
        mine, theirs = self.data["model"], other.get("model")
        if (mine or {}).get("sha256") != (theirs or {}).get("sha256"):
            return "it was made with another model"
        return None

    def _write(self) -> None:
        write_text(self.path, json.dumps(self.data, indent=1, default=str))

    def start(self, inputs: list) -> None:
        """Record the inputs and write ``run.json`` with status "running"."""
        with self._lock:
            self.data["inputs"] = [str(p) for p in inputs]
            self._write()

    def add(
        self,
        source: str | Path,
        outputs: list,
        *,
        error: str | None = None,
        record: dict | None = None,
    ) -> None:
        """Record the finished ``outputs`` of ``source`` (or its ``error``).

        ``record`` is a small JSON-serialisable summary of that input (e.g. a
        row of a summary table) that a resumed run can reuse.
        """
        with self._lock:
            if self.data["finished"]:  # a straggler after finish(): not part of this run
                return
            key = str(source)
            if error:
                self.data["failed"][key] = error
                self.data["outputs"].pop(key, None)
            else:
                self.data["failed"].pop(key, None)
                self.data["outputs"][key] = [Path(p).name for p in outputs]
                if record is not None:
                    self.data["records"][key] = record
            self._write()

    def records(self) -> dict[str, dict]:
        """{input: record} of the finished inputs that have one."""
        with self._lock:
            return dict(self.data["records"])

    def finished(self) -> dict[str, list[str]]:
        """{input: [output names]} for every input whose outputs are written."""
        with self._lock:
            return dict(self.data["outputs"])

    def finish(self, status: str = "complete") -> None:
        """Write ``run.json`` a last time with ``status`` and the end time."""
        with self._lock:
            self.data["status"] = status
            self.data["finished"] = now_utc()
            self._write()
