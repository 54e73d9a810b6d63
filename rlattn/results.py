"""Result files: ``<name>.txt`` (one ``x,y,w,h`` per frame) and ``<name>.json`` (run facts).

Both are written atomically (temporary file + rename), so an interrupted run never leaves a
half-written result that a later run would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: setting the umask to read it is not thread-safe


def _write_beside(path: Path, text: str) -> str:
    """``text`` in a new temporary file beside ``path`` (readable as the user's files are); its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        # mkstemp makes the file 0600; results are shared like any other file the user writes
        os.chmod(tmp, 0o666 & ~_UMASK)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_text(path: Path, text: str) -> None:
    tmp = _write_beside(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_exclusive(path: Path, text: str) -> bool:
    """Write ``path`` complete, only if it does not exist yet; False when another writer was first.

    The file appears at once with all its content (written beside it, then hard-linked into
    place: ``link`` fails on an existing name), so two processes can never both create it, and
    neither can read it half-written.
    """
    tmp = _write_beside(path, text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def exclusive(lock_path: Path) -> Iterator[bool]:
    """Hold an advisory lock on ``lock_path`` while the block runs; yields False (at once, without
    waiting) when another process holds it. The kernel drops the lock with its holder, so a killed
    run never leaves a stale one; the file is removed on the way out."""
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            # whoever opened this file before the unlink and locks it after us re-checks for
            # finished results, which are in place by now, before doing any work
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def write_boxes(path: Path, boxes: np.ndarray) -> None:
    lines = "\n".join(",".join(f"{v:.2f}" for v in row) for row in np.asarray(boxes, dtype=float))
    atomic_write_text(Path(path), lines + "\n")


def write_run(out_dir: Path, name: str, boxes: np.ndarray, info: dict) -> tuple[Path, Path]:
    """Write ``<name>.txt`` and ``<name>.json`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    txt, js = out_dir / f"{name}.txt", out_dir / f"{name}.json"
    write_boxes(txt, boxes)
    atomic_write_text(js, json.dumps(info, indent=2, default=_jsonable) + "\n")
    return txt, js


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
