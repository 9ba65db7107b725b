"""Atomic file writes: a temporary file in the destination's directory, then ``os.replace``.

An interrupted write (exception, crash, kill) never leaves a partial file under the final
name: readers see either the previous file or the complete new one. The temporary name
starts with ``.`` and ends with ``.tmp`` so directory scans can skip it.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import IO, Iterator

TMP_SUFFIX = ".tmp"


def temp_path_for(path: str | os.PathLike) -> Path:
    """A fresh, unique temporary path in the same directory as ``path`` (not created)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(p: Path) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path`` atomically.

    For libraries that insist on opening a path themselves (h5py, pyBigWig). The caller
    must have closed the file before the ``with`` block ends. On any exception the
    temporary file is removed and ``path`` is left untouched.
    """
    final = Path(path)
    tmp = temp_path_for(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file {tmp}")
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
        if fsync:
            _fsync_dir(final.parent)
    except BaseException:
        _remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, fsync: bool = True,
                 encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing; on success it replaces ``path`` atomically.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise).
    The file is created with the usual permissions (0o666 minus the umask).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', not {mode!r}")
    with atomic_path(path, fsync=False) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline="")
        with f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
    if fsync:
        _fsync_dir(Path(path).parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_write(path, "wb", fsync=fsync) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_write(path, "w", fsync=fsync) as f:
        f.write(text)
    return Path(path)
