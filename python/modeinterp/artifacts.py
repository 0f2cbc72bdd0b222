"""Files the package writes, written atomically: a kill, a full disk or an exception mid-write
leaves either the previous file or the new one at ``path``, never half of one, and no temporary
file behind. The file gets the mode any other tool would give it under the user's umask.

Every writer goes through :func:`write_atomic`: the bytes go to a temporary file in the same folder
(``.<name>.<random>.tmp``, so a ``*.json`` or ``*.npy`` glob never sees it), which is flushed and
fsync'd, then ``os.replace``d onto ``path`` (atomic on POSIX and Windows); the folder is fsync'd
too where the platform allows, so the rename itself survives a power cut. On any failure the
temporary file is removed and the exception propagates.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["cache_folder", "load_json", "save_json", "save_npy", "save_pt", "save_text",
           "write_atomic", "write_folder_atomic"]


def write_atomic(path: str | os.PathLike, write_fn: Callable[[Any], None]) -> str:
    """Call ``write_fn(f)`` with ``f`` a binary file open on a temporary file next to ``path``,
    then move it onto ``path`` atomically (folders created as needed). Returns ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp's 0600 is for the temporary file, not the result
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
    return path


def write_folder_atomic(path: str | os.PathLike, write_fn: Callable[[str], None]) -> str:
    """Call ``write_fn(folder)`` on a temporary folder next to ``path``, then put it in place of
    ``path`` (replacing a folder there): a failed write leaves nothing behind. Returns ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        write_fn(tmp)
        _permissions_from_umask(tmp)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _fsync_dir(directory)
    return path


def _permissions_from_umask(folder: str) -> None:
    """Give a written folder and what is in it the modes the user's umask allows (mkdtemp's 0700
    and the 0600 of libraries' temporary files are for writing, not for the result)."""
    mask = _umask()
    for root, dirs, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


def _umask() -> int:
    """The process's umask (reading it means setting it: put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable; best effort (not possible on every platform)."""
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


def save_pt(obj: Any, path: str | os.PathLike) -> str:
    """``torch.save(obj)`` to ``path``, atomically."""
    return write_atomic(path, lambda f: torch.save(obj, f))


def save_json(obj: Any, path: str | os.PathLike, indent: int | None = 1, *,
              default: Callable | None = None) -> str:
    """``obj`` as JSON (UTF-8, ``indent``; ``default`` as in :func:`json.dumps`, e.g. ``float``
    for numpy scalars) to ``path``, atomically. Values that know their JSON form (a ``to_json()``
    method: a score window) are written in it."""
    def encode(value):
        if callable(getattr(value, "to_json", None)):
            return value.to_json()
        if default is None:
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        return default(value)

    data = json.dumps(obj, indent=indent, default=encode).encode()  # fails before any write
    return write_atomic(path, lambda f: f.write(data))


def save_text(text: str, path: str | os.PathLike) -> str:
    """``text`` (UTF-8) to ``path``, atomically."""
    data = text.encode()
    return write_atomic(path, lambda f: f.write(data))


def save_npy(array, path: str | os.PathLike) -> str:
    """``array`` as a ``.npy`` file (no pickles: ``np.load`` and ``mmap_mode`` read it) at
    ``path`` exactly (no ``.npy`` appended), atomically."""
    array = np.asarray(array)
    return write_atomic(path, lambda f: np.save(f, array, allow_pickle=False))


def load_json(path: str | os.PathLike) -> Any:
    """The JSON value in ``path`` (UTF-8)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cache_folder(cache_dir="default"):
    """Where generated data and small trained helpers are kept: ``"default"`` is
    ``$MODEINTERP_CACHE`` or ``~/.cache/modeinterp``; None disables the cache."""
    if cache_dir == "default":
        cache_dir = os.environ.get("MODEINTERP_CACHE", Path.home() / ".cache" / "modeinterp")
    return None if cache_dir is None else Path(cache_dir)
