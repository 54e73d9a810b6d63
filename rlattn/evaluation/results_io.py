"""Reading tracker results: OTB ``.txt`` (comma/tab/space), the OTB toolkit's ``.mat``
(``results{1}.res`` or a bare ``result`` matrix), and our own ``<seq>.json`` timing files."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlattn.datasets.sequence import read_rows
from rlattn.errors import RlattnError


def sequence_key(name: str) -> str:
    """One spelling for a sequence name: lower case, ``.``/``_`` → ``-`` (``Human4.2`` → ``human4-2``)."""
    return re.sub(r"[._]", "-", name.strip()).lower()


@dataclass
class TrackerResult:
    boxes: np.ndarray
    fps: float | None = None
    start_frame: int | None = None  # frame number of the first box (the toolkit's results.startFrame)
    anno_begin: int | None = None  # the file's claim of the annotation's first frame (results.annoBegin)

    def offset(self, anno_first_frame: int | None = None) -> int:
        """The annotation row of the first box: ``startFrame`` minus the annotation's first frame.

        The frame table (``seq_frames_tb100.tsv``) knows where an annotation starts; a result file's
        own ``annoBegin`` can be wrong (the DAT authors' David says 1 with an annotation that
        starts at frame 300, which would misalign all 471 boxes), so it is used only without one.
        """
        if self.start_frame is None:
            return 0
        first = anno_first_frame if anno_first_frame is not None else (self.anno_begin or 1)
        return max(self.start_frame - first, 0)


def read_result_file(path: Path) -> TrackerResult:
    path = Path(path)
    if path.suffix == ".mat":
        return _read_mat(path)
    rows = read_rows(path, "result file")
    bad = [i + 1 for i, r in enumerate(rows) if len(r) != 4]
    if bad:
        raise RlattnError(f"{path}: line {bad[0]} does not hold 4 numbers x,y,w,h")
    fps = None
    meta = path.with_suffix(".json")
    if meta.is_file():
        try:
            info = json.loads(meta.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            info = None
        fps = info.get("fps") if isinstance(info, dict) else None
        fps = float(fps) if isinstance(fps, int | float) and not isinstance(fps, bool) else None
    return TrackerResult(np.stack(rows), fps)


def _read_mat(path: Path) -> TrackerResult:
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)
    except Exception as exc:
        raise RlattnError(f"cannot read {path}: {exc}") from exc
    for key in ("results", "result"):
        if key not in mat:
            continue
        value = mat[key]
        if isinstance(value, np.ndarray) and value.dtype == object:
            value = value.flat[0]  # results{1}
        if hasattr(value, "res"):
            kind = getattr(value, "type", "rect")
            if kind != "rect":
                raise RlattnError(f"{path}: results of type {kind!r} are not supported (only 'rect')")
            fps = getattr(value, "fps", None)
            start, begin = getattr(value, "startFrame", None), getattr(value, "annoBegin", None)
            boxes = np.atleast_2d(np.asarray(value.res, float))
            return TrackerResult(
                boxes,
                float(fps) if fps is not None else None,
                int(start) if start is not None else None,
                int(begin) if begin is not None else None,
            )
        arr = np.atleast_2d(np.asarray(value, float))
        if arr.ndim == 2 and arr.shape[1] == 4:
            return TrackerResult(arr)
    raise RlattnError(f"{path} holds no 'results' struct nor a 'result' N×4 matrix")


def find_result_files(folder: Path) -> dict[str, Path]:
    """``{sequence key: file}`` for ``<seq>.txt`` or ``<seq>_<Tracker...>.mat|.txt`` (OTB names hold no ``_``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RlattnError(f"results folder not found: {folder}")
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix not in (".txt", ".mat") or p.name.startswith("."):
            continue
        key = sequence_key(p.stem.split("_")[0])
        if key in files:
            raise RlattnError(
                f"{folder} holds two result files for {key}: {files[key].name} and {p.name}; "
                "keep one tracker's results per folder"
            )
        files[key] = p
    return files
