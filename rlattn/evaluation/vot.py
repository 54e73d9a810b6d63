"""VOT-2016 supervised (reset-based) protocol: runs, accuracy, robustness, EAO.

* A run re-initialises the tracker from the ground truth 5 frames after each failure; a failure
  is a frame whose prediction does not overlap the ground-truth polygon at all.
* Result codes as in the VOT toolkit's text files: ``1`` at an initialisation, ``2`` at a
  failure, ``0`` for skipped frames, a box otherwise.
* Accuracy: mean overlap over tracked frames, ignoring the 10 frames after each (re)initialisation
  (burn-in; the initialisation frame included). Robustness: failures per run.
* EAO: every initialisation starts a segment that lasts until the next failure (then padded with
  zeros to any length) or the sequence end (then it counts only up to its length); Φ(N) is the
  mean over segments of the average overlap of their first N frames, EAO the mean of Φ over
  ``[108, 371]`` (VOT-2016). The initialisation frame counts as overlap 1.
* Overlap of an axis-aligned prediction with a (rotated) polygon: exact convex intersection,
  both regions first clipped to the image (the toolkit's bounds) when its size is known.
* Result files are in VOT's 0-based pixel coordinates (as the toolkit and published results
  write them); in memory, boxes are 1-based like the loaded ground truth (``rlattn.datasets.vot``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rlattn.datasets.sequence import Sequence, polygon_to_box, read_rows, rect_polygon
from rlattn.errors import RlattnError
from rlattn.results import atomic_write_text

INIT, FAILURE, SKIP = 1, 2, 0
EAO_RANGE_VOT2016 = (108, 371)


def _clip(points: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """A convex polygon (``(k, 2)`` float32) clipped to the image ``[1, W+1] x [1, H+1]`` (1-based)."""
    if bounds is None:
        return points
    w, h = bounds
    frame = np.array([[1, 1], [w + 1, 1], [w + 1, h + 1], [1, h + 1]], dtype=np.float32)
    area, clipped = cv2.intersectConvexConvex(points, frame)
    return clipped.reshape(-1, 2) if area > 0 and clipped is not None else np.zeros((0, 2), np.float32)


def _area(points: np.ndarray) -> float:
    return float(cv2.contourArea(points)) if len(points) >= 3 else 0.0


def polygon_overlap(polygon: np.ndarray, box: np.ndarray, bounds: tuple[float, float] | None = None) -> float:
    """IoU of a ground-truth polygon (8 values, or a 4-value box) and an ``x,y,w,h`` box, both clipped
    to an image of ``bounds = (width, height)`` when given."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1)
    box = np.asarray(box, dtype=np.float64)
    if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        return 0.0
    gt = cv2.convexHull((rect_polygon(poly) if poly.size == 4 else poly).reshape(-1, 2).astype(np.float32))
    pred = cv2.convexHull(rect_polygon(box).reshape(-1, 2).astype(np.float32))
    gt, pred = _clip(gt.reshape(-1, 2), bounds), _clip(pred.reshape(-1, 2), bounds)
    area_gt, area_pred = _area(gt), _area(pred)
    if area_gt <= 0 or area_pred <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(gt, pred)
    union = area_gt + area_pred - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class SupervisedRun:
    """One reset-based run: ``codes[i]`` is INIT, FAILURE, SKIP, or -1 for a tracked frame."""

    codes: np.ndarray
    boxes: np.ndarray
    overlaps: np.ndarray  # per frame; NaN where there is no prediction

    @property
    def failures(self) -> int:
        return int((self.codes == FAILURE).sum())

    @property
    def init_frames(self) -> list[int]:
        return [int(i) for i in np.nonzero(self.codes == INIT)[0]]


def run_supervised(tracker, seq: Sequence, skip: int = 5) -> SupervisedRun:
    """Run ``tracker`` over ``seq`` with VOT's reset-on-failure rule."""
    if seq.boxes is None:
        raise RlattnError(f"{seq.name}: the VOT protocol needs ground truth for every frame")
    regions = seq.polygons if seq.polygons is not None else seq.boxes
    n = len(seq)
    codes = np.full(n, SKIP, dtype=int)
    boxes = np.full((n, 4), np.nan)
    overlaps = np.full(n, np.nan)
    i = 0
    while i < n:
        tracker.init(seq.image(i), seq.boxes[i])
        codes[i], boxes[i], overlaps[i] = INIT, seq.boxes[i], 1.0
        i += 1
        while i < n:
            box = np.asarray(tracker.update(seq.image(i)), dtype=np.float64)
            ov = polygon_overlap(regions[i], box)
            if ov <= 0:
                codes[i], overlaps[i] = FAILURE, 0.0
                i += skip
                break
            codes[i], boxes[i], overlaps[i] = -1, box, ov
            i += 1
    return SupervisedRun(codes, boxes, overlaps)


def accuracy(run: SupervisedRun, burnin: int = 10) -> float:
    """Mean overlap of tracked frames outside the burn-in after each initialisation."""
    keep = run.codes == -1
    for start in run.init_frames:
        keep[start : start + burnin] = False
    return float(run.overlaps[keep].mean()) if keep.any() else float("nan")


def segments(run: SupervisedRun) -> list[tuple[np.ndarray, bool]]:
    """``(overlaps, failed)`` of every segment from an initialisation to a failure or the end."""
    out = []
    starts = run.init_frames
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(run.codes)
        codes = run.codes[start:end]
        fail = np.nonzero(codes == FAILURE)[0]
        stop = int(fail[0]) if len(fail) else len(codes)
        out.append((np.nan_to_num(run.overlaps[start : start + stop]), bool(len(fail))))
    return out


def expected_overlap_curve(runs: list[SupervisedRun], max_length: int) -> np.ndarray:
    """Φ(N) for N = 1..max_length over all segments of all runs (see module doc)."""
    sums = np.zeros(max_length)
    counts = np.zeros(max_length)
    for run in runs:
        for ov, failed in segments(run):
            padded = np.zeros(max_length)
            m = min(len(ov), max_length)
            padded[:m] = ov[:m]
            running = np.cumsum(padded) / np.arange(1, max_length + 1)
            valid = max_length if failed else m
            sums[:valid] += running[:valid]
            counts[:valid] += 1
    with np.errstate(invalid="ignore"):
        return sums / counts


def eao(runs: list[SupervisedRun], interval: tuple[int, int] = EAO_RANGE_VOT2016) -> float:
    """Mean of Φ(N) over ``interval``; NaN when no segment is long enough to reach it."""
    lo, hi = interval
    values = expected_overlap_curve(runs, hi)[lo - 1 : hi]
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def write_vot_result(path: Path, run: SupervisedRun) -> None:
    """The toolkit's text format, in its 0-based coordinates."""
    lines = []
    for code, box in zip(run.codes, run.boxes):
        vot_box = box - np.array([1.0, 1.0, 0.0, 0.0])
        lines.append(str(code) if code in (INIT, FAILURE, SKIP) else ",".join(f"{v:.4f}" for v in vot_box))
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


def read_vot_result(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, boxes)`` from a VOT text result (``1``/``2``/``0`` codes, 4- or 8-value regions in
    VOT's 0-based coordinates); boxes are returned 1-based, like the loaded ground truth."""
    rows = read_rows(Path(path), "result file")
    codes = np.full(len(rows), -1, dtype=int)
    boxes = np.full((len(rows), 4), np.nan)
    for i, r in enumerate(rows):
        if len(r) == 1 and r[0] in (INIT, FAILURE, SKIP):
            codes[i] = int(r[0])
        elif len(r) == 4:
            boxes[i] = r
        elif len(r) == 8:
            boxes[i] = polygon_to_box(r[None])[0]
        else:
            raise RlattnError(f"{path}:{i + 1}: expected a code (0/1/2) or 4/8 numbers")
    boxes[:, :2] += 1.0
    return codes, boxes


def run_from_result(
    codes: np.ndarray, boxes: np.ndarray, regions: np.ndarray, bounds: tuple[float, float] | None = None
) -> SupervisedRun:
    """Rebuild a :class:`SupervisedRun` (with overlaps) from a result file and the ground truth."""
    if len(codes) != len(regions):
        raise RlattnError(f"{len(codes)} result lines for {len(regions)} frames")
    overlaps = np.full(len(codes), np.nan)
    overlaps[codes == INIT] = 1.0
    overlaps[codes == FAILURE] = 0.0
    for i in np.nonzero(codes == -1)[0]:
        overlaps[i] = polygon_overlap(regions[i], boxes[i], bounds)
    return SupervisedRun(codes, boxes, overlaps)


@dataclass
class VotReport:
    tracker: str
    eao: float
    accuracy: float
    robustness: float  # failures per sequence, averaged over runs and sequences
    failures: float  # total failures over the dataset, averaged over runs
    sequences: int
    problems: list[str]


def image_size(seq: Sequence) -> tuple[int, int] | None:
    """``(width, height)`` of a sequence's first frame; None when it has no frames."""
    if not len(seq):
        return None
    h, w = seq.image(0).shape[:2]
    return w, h


def evaluate_vot_folder(
    folder: Path,
    sequences: dict[str, Sequence],
    interval: tuple[int, int] = EAO_RANGE_VOT2016,
    bounded: bool = True,
    name: str | None = None,
) -> VotReport:
    """Score ``<folder>/<seq>/<seq>_NNN.txt`` runs against the sequences' polygons.

    With ``bounded`` the overlaps are taken inside each image, as the toolkit does; sequences loaded
    without frames have no known size and are scored unbounded (one note says how many).
    """
    folder = Path(folder)
    runs_all, acc, fails, problems = [], [], [], []
    unbounded = 0
    sizes = {}
    for key, seq in sequences.items():
        sizes[key] = image_size(seq) if bounded else None
        unbounded += bounded and sizes[key] is None
    if unbounded:
        problems.append(
            f"image size unknown for {unbounded} of {len(sequences)} sequences (annotations without frames): "
            "their overlaps are not bounded by the image"
        )
    for seq_name, seq in sequences.items():
        bounds = sizes[seq_name]
        files = sorted((folder / seq_name).glob(f"{seq_name}_[0-9][0-9][0-9].txt"))
        if not files:
            problems.append(f"{seq_name}: no runs in {folder / seq_name}")
            continue
        regions = seq.polygons if seq.polygons is not None else seq.boxes
        try:
            runs = [run_from_result(*read_vot_result(f), regions, bounds) for f in files]
        except RlattnError as exc:
            problems.append(f"{seq_name}: {exc}")
            continue
        runs_all.extend(runs)
        acc.append(np.nanmean([accuracy(r) for r in runs]))
        fails.append(np.mean([r.failures for r in runs]))
    if not runs_all:
        raise RlattnError(f"no usable VOT runs in {folder}: " + "; ".join(problems[:3]))
    score = eao(runs_all, interval)
    if np.isnan(score):
        problems.append(f"EAO undefined: no segment lasts {interval[0]} frames (sequences too short)")
    return VotReport(
        name or folder.name,
        score,
        float(np.nanmean(acc)),
        float(np.mean(fails)),
        float(np.sum(fails)),
        len(acc),
        problems,
    )
