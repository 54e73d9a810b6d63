"""VOT sequence folders: ``color/*.jpg`` (or images in the folder) + polygon ``groundtruth.txt``.

VOT polygons are in 0-based pixel coordinates; :class:`Sequence` keeps boxes in OTB's 1-based
convention, so the axis-aligned boxes (and the polygons) are shifted by one pixel on loading
(and VOT result files, also 0-based, on reading and writing: ``rlattn.evaluation.vot``).
"""

from __future__ import annotations

from pathlib import Path

from rlattn.datasets.sequence import IMAGE_SUFFIXES, Sequence, list_frames, read_boxes
from rlattn.errors import RlattnError


def load_vot_sequence(
    seq_dir: str | Path, groundtruth: str | Path | None = None, frames_required: bool = True
) -> Sequence:
    """A VOT sequence folder; ``groundtruth`` replaces its ``groundtruth.txt`` (another stack's
    annotation of the same frames). Without ``frames_required`` a folder holding only the
    annotation loads too, with no frames (enough to score result files, not to track)."""
    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise RlattnError(f"sequence folder not found: {seq_dir}")
    gt_path = Path(groundtruth) if groundtruth is not None else seq_dir / "groundtruth.txt"
    boxes, polys = read_boxes(gt_path)
    image_dir = seq_dir / "color" if (seq_dir / "color").is_dir() else seq_dir
    if frames_required or any(p.suffix.lower() in IMAGE_SUFFIXES for p in image_dir.iterdir()):
        frames = list_frames(image_dir)
        if len(boxes) != len(frames):
            raise RlattnError(f"{seq_dir.name}: {len(frames)} frames but {len(boxes)} lines in {gt_path.name}")
    else:
        frames = []
    boxes = boxes.copy()
    boxes[:, :2] += 1.0
    if polys is not None:
        polys = polys + 1.0
    tags = sorted(p.name.split(".")[0] for p in seq_dir.glob("*.tag*"))
    return Sequence(name=seq_dir.name, frames=frames, boxes=boxes, polygons=polys, attributes=tags, path=seq_dir)


def vot2016_groundtruth(data_root: Path | None, name: str) -> Path | None:
    """The VOT-2016 annotation of ``name`` from ``<data_root>/vot2016_annotations``, where present:
    a VOT folder can carry another year's ground truth (our ``vot/ball1`` holds VOT-2015's)."""
    if data_root is None:
        return None
    path = Path(data_root) / "vot2016_annotations" / name / "groundtruth.txt"
    return path if path.is_file() else None
