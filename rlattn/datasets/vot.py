"""VOT sequence folders: ``color/*.jpg`` (or images in the folder) + polygon ``groundtruth.txt``.

VOT polygons are in 0-based pixel coordinates; :class:`Sequence` keeps boxes in OTB's 1-based
convention, so the axis-aligned boxes (and the polygons) are shifted by one pixel on loading.
"""

from __future__ import annotations

from pathlib import Path

from rlattn.datasets.sequence import Sequence, list_frames, read_boxes
from rlattn.errors import RlattnError


def load_vot_sequence(seq_dir: str | Path) -> Sequence:
    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise RlattnError(f"sequence folder not found: {seq_dir}")
    frames = list_frames(seq_dir / "color" if (seq_dir / "color").is_dir() else seq_dir)
    boxes, polys = read_boxes(seq_dir / "groundtruth.txt")
    if len(boxes) != len(frames):
        raise RlattnError(f"{seq_dir.name}: {len(frames)} frames but {len(boxes)} lines in groundtruth.txt")
    boxes = boxes.copy()
    boxes[:, :2] += 1.0
    if polys is not None:
        polys = polys + 1.0
    tags = sorted(p.name.split(".")[0] for p in seq_dir.glob("*.tag*"))
    return Sequence(name=seq_dir.name, frames=frames, boxes=boxes, polygons=polys, attributes=tags, path=seq_dir)
