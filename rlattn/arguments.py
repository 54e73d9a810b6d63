"""Checks of what a command was given, made before any work starts: a run that cannot succeed
must fail in its first second with one line, not after hours of tracking or after claiming a
results folder."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TypeVar

from rlattn.errors import RlattnError

T = TypeVar("T")


def at_least(name: str, value: int | None, low: int = 1) -> None:
    """``--name`` must be ``>= low`` when given."""
    if value is not None and value < low:
        raise RlattnError(f"{name} must be >= {low}, got {value}")


def writable_folder(path: Path, what: str = "--out") -> Path:
    """``path`` as a folder this process can write into (created if missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RlattnError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise RlattnError(f"cannot write into {what} {path}: {exc.strerror or exc}") from None
    return path


def writable_file(path: Path, what: str, suffixes: Iterable[str] | None = None) -> Path:
    """``path`` as a file that can be written (its folder is created), with one of ``suffixes``."""
    path = Path(path)
    if path.is_dir():
        raise RlattnError(f"{what} {path} is a folder; give a file name")
    if suffixes is not None:
        allowed = sorted({s.lower().lstrip(".") for s in suffixes})
        if path.suffix.lower().lstrip(".") not in allowed:
            kind = path.suffix or "(none)"
            raise RlattnError(f"{what} {path}: unknown file type {kind}; use one of .{', .'.join(allowed)}")
    writable_folder(path.parent if str(path.parent) else Path("."), f"the folder of {what}")
    return path


def image_suffixes() -> list[str]:
    """The file types matplotlib can save a figure as (png, pdf, svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return list(FigureCanvasBase.get_supported_filetypes())


def distinct(items: Iterable[T], key: Callable[[T], Hashable] = lambda x: x) -> list[T]:
    """``items`` without repeats (by ``key``), in their first order: ``Deer,Deer`` or ``0,0.0,-0``
    are one task, not two writing the same file."""
    seen: set = set()
    out = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def seed_list(text: str) -> list[int]:
    """``0-4`` or ``0,2,7`` (or both: ``0-2,7``) as a sorted list of distinct seeds >= 0."""
    seeds: set[int] = set()
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            seeds.update(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise RlattnError(f"--seeds expects e.g. 0-4 or 0,2,7, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise RlattnError(f"--seeds needs seeds >= 0, got {text!r}")
    return sorted(seeds)
