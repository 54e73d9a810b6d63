"""Result files: ``<name>.txt`` (one ``x,y,w,h`` per frame) and ``<name>.json`` (run facts).

Both are written atomically (temporary file + rename), so an interrupted run never leaves a
half-written result that a later run would mistake for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
