"""Ground truth and attributes for OTB evaluation, and the named sequence sets.

Two layouts are read: a folder of annotation files alone (``anno_tb100``: ``<name>.txt`` with
lower-case names, ``att/<name>.txt`` 11-value attribute vectors), or OTB sequence folders
(``<Name>/groundtruth_rect[.N].txt``). Sets come from the toolkit's lists beside them
(``cvpr13.txt`` = OTB-2013's 51, ``tb_100.txt`` = OTB-100, ``tb_50.txt``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlattn.datasets.otb import FRAME_TABLE, ground_truth_files, read_frame_table
from rlattn.datasets.sequence import read_boxes, read_rows
from rlattn.errors import RlattnError
from rlattn.evaluation.otb import ATTRIBUTES
from rlattn.evaluation.results_io import sequence_key

SET_FILES = {"otb2013": "cvpr13.txt", "otb2015": "tb_100.txt", "otb100": "tb_100.txt", "tb50": "tb_50.txt"}


@dataclass
class Annotation:
    name: str
    boxes: np.ndarray
    attributes: tuple[str, ...] = ()
    first_frame: int | None = None  # frame number of the first row, from the toolkit's frame table


def load_annotations(folder: Path) -> dict[str, Annotation]:
    """``{sequence key: Annotation}`` from either layout (see module doc)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RlattnError(f"annotation folder not found: {folder}")
    out: dict[str, Annotation] = {}
    table = next((t for t in (folder / FRAME_TABLE, folder.parent / FRAME_TABLE) if t.is_file()), None)
    starts = {sequence_key(k): v[0] for k, v in read_frame_table(table).items()} if table else {}
    for p in sorted(folder.glob("*.txt")):
        boxes, _ = read_boxes(p)
        key = sequence_key(p.stem)
        out[key] = Annotation(p.stem, boxes, _attributes(folder / "att" / p.name), starts.get(key))
    for seq_dir in sorted(d for d in folder.iterdir() if d.is_dir() and d.name != "att"):
        for target, gt in ground_truth_files(seq_dir).items():
            name = seq_dir.name if target is None else f"{seq_dir.name}-{target}"
            out.setdefault(sequence_key(name), Annotation(name, read_boxes(gt)[0]))
    if not out:
        raise RlattnError(f"no annotations (<name>.txt or <Seq>/groundtruth_rect.txt) in {folder}")
    return out


def _attributes(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return ()
    values = read_rows(path)[0]
    return tuple(a for a, v in zip(ATTRIBUTES, values) if v > 0)


def lookup(annotations: dict, key: str):
    """Exact key, else the base name for a split sequence (``human4-2`` → ``human4``)."""
    if key in annotations:
        return annotations[key]
    base = key.rsplit("-", 1)[0]
    if base != key and key.rsplit("-", 1)[1].isdigit() and base in annotations:
        return annotations[base]
    return None


def sequence_set(name: str, meta_dirs: list[Path]) -> list[str]:
    """Sequence keys of a named set, read from the first folder holding its list file (else from
    :mod:`rlattn.datasets.otb_catalog`)."""
    if name == "synthetic":
        from rlattn.datasets.synthetic import SYNTHETIC_SET

        return [sequence_key(n) for n in SYNTHETIC_SET]
    if name not in SET_FILES:
        raise RlattnError(f"unknown dataset {name!r}; choose one of {', '.join(SET_FILES)}")
    for d in meta_dirs:
        f = Path(d) / SET_FILES[name]
        if f.is_file():
            lines = [line.split("\t")[0].strip() for line in f.read_text().splitlines() if line.strip()]
            return [sequence_key(n) for n in lines]
    from rlattn.datasets.otb_catalog import SETS

    return [sequence_key(n) for n in SETS[name]]  # no toolkit list beside the data: the benchmark's own
