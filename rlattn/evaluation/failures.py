"""Where a tracker loses its target, and whether the target was inside its search window there.

MDNet (and so DAT) draws its candidates around the previous box: each centre offset is
``trans · mean side · clip(½·N(0, 1), −1, 1)`` per axis (``rlattn.sampling``), so a target that
moved more than ``trans`` (0.6; widened ×1.1 per failed frame up to 1.5) mean sides from the
previous box along either axis cannot be found in one step. These pure functions put that next to
a result's boxes: the frame where the overlap falls for good, the offset the tracker would have
had to cover there, and how large and how fast the target was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rlattn.evaluation.annotations import Annotation, lookup
from rlattn.evaluation.otb import overlap_continuous
from rlattn.evaluation.results_io import find_result_files, read_result_file

LOST_IOU = 0.1  # below this the box is on something else
HOLD = 10  # ... and stays there on average over this many frames: lost, not a blip


def lost_frame(overlaps: np.ndarray, threshold: float = LOST_IOU, hold: int = HOLD) -> int | None:
    """First frame whose overlap is below ``threshold`` and whose next ``hold`` frames (itself
    included, fewer at the end) average below it too; ``None`` if the target is never lost.

    Frames without ground truth (NaN overlap) count as neither lost nor kept.
    """
    iou = np.asarray(overlaps, float)
    valid = ~np.isnan(iou)
    filled = np.where(valid, iou, 0.0)
    csum, cnt = np.concatenate([[0.0], np.cumsum(filled)]), np.concatenate([[0], np.cumsum(valid)])
    ends = np.minimum(np.arange(len(iou)) + hold, len(iou))
    n = cnt[ends] - cnt[: len(iou)]
    with np.errstate(invalid="ignore", divide="ignore"):
        window = (csum[ends] - csum[: len(iou)]) / n
    lost = valid & (iou < threshold) & (n > 0) & (window < threshold)
    hits = np.flatnonzero(lost)
    return int(hits[0]) if hits.size else None


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2


def reach_needed(previous: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per pair of rows: the largest per-axis offset from ``previous``'s centre to ``target``'s, in
    units of ``previous``'s mean side: the ``trans`` a candidate needed to land on the target."""
    previous, target = np.atleast_2d(previous).astype(float), np.atleast_2d(target).astype(float)
    offset = np.abs(_centres(target) - _centres(previous)).max(axis=1)
    return offset / previous[:, 2:].mean(axis=1)


def motion(gt: np.ndarray) -> np.ndarray:
    """The target's own motion, frame to frame, as :func:`reach_needed` from its previous box (0 first)."""
    gt = np.asarray(gt, float)
    return np.concatenate([[0.0], reach_needed(gt[:-1], gt[1:])])


@dataclass(frozen=True)
class Loss:
    """One run losing one target (``frame`` is ``None`` when it never does)."""

    target: str
    seed: int | None
    frame: int | None
    frames: int
    reach: float | None  # offset from our previous box to the true target there, in our mean sides
    motion: float | None  # the target's own motion into that frame (same unit, from its previous box)
    peak_motion: float | None  # the largest motion in the 5 frames up to the loss
    size: float | None  # the target's sqrt(w·h) in pixels there
    size_change: float | None  # that size over the first frame's
    aspect_change: float | None  # the target's w/h there over the first frame's
    iou_before: float | None  # our mean overlap over the 10 frames before: gradual drift or a jump
    reference_iou: float | None  # a reference tracker's overlap at that frame (the authors' boxes)

    def to_dict(self) -> dict:
        return asdict(self)


def diagnose_loss(
    target: str,
    boxes: np.ndarray,
    gt: np.ndarray,
    seed: int | None = None,
    reference: np.ndarray | None = None,
    threshold: float = LOST_IOU,
    hold: int = HOLD,
) -> Loss:
    """Where ``boxes`` lose ``gt`` and what the target did there (see the module's docstring)."""
    boxes, gt = np.asarray(boxes, float), np.asarray(gt, float)
    iou = overlap_continuous(boxes, gt)
    iou[np.isnan(gt).any(axis=1)] = np.nan
    t = lost_frame(iou, threshold, hold)
    if t is None or t == 0:
        return Loss(target, seed, t, len(gt), *[None] * 8)
    moved = motion(gt)
    side = float(np.sqrt(gt[t, 2] * gt[t, 3]))
    ref = None
    if reference is not None and len(reference) > t:
        ref = float(overlap_continuous(np.asarray(reference, float)[t : t + 1], gt[t : t + 1])[0])
    return Loss(
        target,
        seed,
        t,
        len(gt),
        float(reach_needed(boxes[t - 1], gt[t])[0]),
        float(moved[t]),
        float(np.nanmax(moved[max(1, t - 4) : t + 1])),
        side,
        side / float(np.sqrt(gt[0, 2] * gt[0, 3])),
        float((gt[t, 2] / gt[t, 3]) / (gt[0, 2] / gt[0, 3])),
        float(np.nanmean(iou[max(0, t - 10) : t])),
        ref,
    )


def aligned_boxes(result: Path, annotation: Annotation) -> tuple[np.ndarray, np.ndarray]:
    """A result file's boxes and the ground truth rows they score against, cut to the shorter
    (the evaluator's alignment: ``startFrame`` against the annotation's first frame)."""
    res = read_result_file(result)
    gt = annotation.boxes[res.offset(annotation.first_frame) :]
    n = min(len(gt), len(res.boxes))
    return res.boxes[:n], gt[:n]


def diagnose_seeds(
    seed_dirs: dict[int | None, Path],
    annotations: dict[str, Annotation],
    keys: list[str],
    reference: Path | None = None,
    frames: int | None = None,
) -> list[Loss]:
    """:func:`diagnose_loss` of every seed's result on every target it has (``reference``: a
    folder of another tracker's results, e.g. the authors' boxes, read at each loss frame;
    ``frames``: the first N frames only, to set whole-sequence runs beside ``--frames N`` ones)."""
    ref_files = find_result_files(reference) if reference is not None else {}
    files_by_seed = {seed: find_result_files(folder) for seed, folder in seed_dirs.items()}
    out = []
    for key in keys:
        anno = lookup(annotations, key)
        if anno is None:
            continue
        ref = aligned_boxes(ref_files[key], anno)[0] if key in ref_files else None
        for seed, files in files_by_seed.items():
            if key in files:
                boxes, gt = aligned_boxes(files[key], anno)
                out.append(diagnose_loss(key, boxes[:frames], gt[:frames], seed, ref))
    return out
