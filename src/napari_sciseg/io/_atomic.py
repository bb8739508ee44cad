"""Atomic writes: a temporary name beside the destination, renamed into place when complete.

Public through :mod:`napari_sciseg.io.outputs`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_PARTIAL = re.compile(r"^\..*\.partial-\d+-[0-9a-f]{8}(\..*)?$")
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}

class DiskFullError(OSError):
    """The disk (or quota) holding an output folder is full."""

    def __str__(self) -> str:  # the sentence, without "[Errno 28]"
        return str(self.strerror)

def _split_name(name: str) -> tuple[str, str]:
    """('stem', '.suffixes') with every suffix kept (``a.ome.tif`` -> ``a``, ``.ome.tif``)."""
    stem, dot, rest = name.partition(".")
    if not stem:  # a hidden name such as ".env"
        return name, ""
    return stem, (dot + rest) if dot else ""


def partial_name(path: str | Path) -> Path:
    """A fresh hidden temporary name beside ``path`` that keeps its suffix.

    The suffix stays last because some writers (matplotlib) choose the format
    from it: ``out/a_psd.png`` -> ``out/.a_psd.partial-<pid>-<token>.png``.
    """
    path = Path(path)
    stem, suffix = _split_name(path.name)
    token = os.urandom(4).hex()
    return path.with_name(f".{stem}.partial-{os.getpid()}-{token}{suffix}")


def is_partial(path: str | Path) -> bool:
    """True for a temporary file or store written by :func:`atomic_path`."""
    return bool(_PARTIAL.match(Path(path).name))


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def _disk_full(exc: OSError, path: Path) -> DiskFullError:
    folder = path.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    return DiskFullError(
        exc.errno,
        f"No space left on the disk holding {folder} ({free}) while writing {path.name}; the "
        "partial file was removed. Free some space or choose another output folder.",
    )


def _fsync(path: Path) -> None:
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``path`` (replacing it only when ``overwrite``)."""
    if tmp.is_dir():
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
            old = partial_name(path)
            os.rename(path, old)
            os.rename(tmp, path)
            _remove(old)
        else:
            os.rename(tmp, path)
        return
    _fsync(tmp)
    if overwrite:
        os.replace(tmp, path)
        return
    try:  # link fails when path exists, so two writers cannot both win
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.") from None
    except OSError:  # file systems without hard links
        if path.exists():
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.") from None
        os.replace(tmp, path)
    else:
        tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` once the block succeeds.

    Write a file or a directory (a zarr store) at the yielded path. When the
    block raises (or the process is interrupted) the temporary is removed and
    ``path`` is untouched; when the process is killed, only a hidden
    ``.<stem>.partial-*`` name remains, which the next :func:`lock_folder` of
    that folder removes.

    Parameters
    ----------
    path : str or Path
        Final destination.
    overwrite : bool
        Replace an existing ``path``; when False it raises FileExistsError.

    Raises
    ------
    DiskFullError
        The disk is full (ENOSPC, EDQUOT, EFBIG); the message names the folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> dest = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(dest) as tmp:
    ...     _ = tmp.write_text("done")
    >>> dest.read_text()
    'done'
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    tmp = partial_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"Nothing was written for {path} (expected {tmp.name}).")
        _publish(tmp, path, overwrite)
    except OSError as exc:
        _remove(tmp)
        if exc.errno in _FULL_ERRNOS and not isinstance(exc, DiskFullError):
            raise _disk_full(exc, path) from exc
        raise
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", *, overwrite: bool = True, **kwargs: Any
) -> Iterator[IO]:
    """:func:`open` for writing, through :func:`atomic_path` (``mode`` "w", "wb", "x" ...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> dest = pathlib.Path(tempfile.mkdtemp()) / "b.json"
    >>> with atomic_open(dest, "w") as fh:
    ...     _ = fh.write("{}")
    >>> dest.read_text()
    '{}'
    """
    if not any(c in mode for c in "wx"):
        raise ValueError(
            f"atomic_open writes a new file; mode must contain 'w' or 'x', got {mode!r}."
        )
    with atomic_path(path, overwrite=overwrite and "x" not in mode) as tmp:
        with open(tmp, mode.replace("x", "w"), **kwargs) as fh:
            yield fh


def write_text(path: str | Path, text: str, *, overwrite: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", overwrite=overwrite, encoding="utf-8") as fh:
        fh.write(text)


def write_model_container(path: Path, config_text: str, weights: bytes) -> Path:
    """Write a model as ``config.json`` + ``weights.safetensors``, atomically.

    ``path`` ending in a separator or naming a folder gets the two files; any other
    path gets a zip holding them. Each file is written under a temporary name and
    renamed when whole, so a reader never finds a half-written model.
    """
    import zipfile

    path = Path(path)
    if path.is_dir() or str(path).endswith(("/", "\\")):
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / "weights.safetensors") as tmp:
            tmp.write_bytes(weights)
        with atomic_path(path / "config.json") as tmp:
            tmp.write_text(config_text)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("config.json", config_text)
            zf.writestr("weights.safetensors", weights)
    return path


def read_model_container(path: Path) -> tuple[bytes, bytes]:
    """Read back the config and weights bytes of :func:`write_model_container`.

    Parameters
    ----------
    path : Path
        The model folder or zip file.

    Returns
    -------
    tuple of bytes
        The raw config and weights.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not such a container, or a corrupt one.
    """
    import zipfile

    path = Path(path)
    if path.is_dir():
        return (path / "config.json").read_bytes(), (path / "weights.safetensors").read_bytes()
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file.")
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.read("config.json"), zf.read("weights.safetensors")
    except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a napari-sciseg model file, or a corrupt one ({exc}).") \
            from None
