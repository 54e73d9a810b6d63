"""Axis-aligned boxes as ``(x, y, w, h)`` rows: IoU, validation and conversions.

All functions are pure and vectorised over rows. Two conventions meet here:

* ground truth and result files use the OTB convention, where ``(x, y)`` is the 1-based
  column/row of the top-left pixel;
* the tracker crops in 0-based pixel coordinates.

:func:`to_zero_based` / :func:`to_one_based` convert between them at the tracker's boundary.
"""

from __future__ import annotations

import numpy as np

from rlattn.errors import RlattnError


def as_boxes(boxes: np.ndarray | list) -> np.ndarray:
    """Return ``boxes`` as a float64 ``(N, 4)`` array (a single box becomes ``(1, 4)``)."""
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise RlattnError(f"expected boxes of shape (N, 4) as x,y,w,h; got shape {arr.shape}")
    return arr


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` (N,4 or 4) against ``b`` (N,4 or 4), continuous.

    Boxes are treated as continuous rectangles ``[x, x+w) x [y, y+h)``; this is the overlap the
    tracker uses to label samples (MDNet's ``overlap_ratio``). The OTB evaluator's +1-pixel
    variant lives with the evaluation code.
    """
    a, b = as_boxes(a), as_boxes(b)
    x1 = np.maximum(a[:, 0], b[:, 0])
    y1 = np.maximum(a[:, 1], b[:, 1])
    x2 = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2])
    y2 = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


def centers(boxes: np.ndarray) -> np.ndarray:
    """Continuous centres ``(cx, cy)`` of ``(N, 4)`` boxes."""
    boxes = as_boxes(boxes)
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def to_zero_based(boxes: np.ndarray) -> np.ndarray:
    """OTB 1-based boxes → 0-based pixel boxes (shift the corner by one pixel)."""
    out = as_boxes(boxes).copy()
    out[:, :2] -= 1.0
    return out


def to_one_based(boxes: np.ndarray) -> np.ndarray:
    """0-based pixel boxes → OTB 1-based boxes."""
    out = as_boxes(boxes).copy()
    out[:, :2] += 1.0
    return out


def validate_init_box(box: np.ndarray, image_shape: tuple[int, ...], *, what: str = "box") -> np.ndarray:
    """Check a first-frame box (0-based) against its image and return it as a float ``(4,)``.

    A tracker cannot start from a box that is empty, not finite, or entirely outside the frame;
    those are rejected with a message that names the box and the frame size. A box that only
    partly leaves the frame is fine (targets enter and leave frames all the time).
    """
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    h, w = image_shape[:2]
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise RlattnError(f"{what} must be four finite numbers x,y,w,h; got {box!r}")
    if b[2] <= 0 or b[3] <= 0:
        raise RlattnError(f"{what} {_fmt(b)} has zero or negative size")
    if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise RlattnError(f"{what} {_fmt(b)} lies outside the {w}x{h} image")
    return b


def visible_part(box: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """The part of a 0-based ``x,y,w,h`` box that lies inside its image (the box itself when it does)."""
    h, w = image_shape[:2]
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], w), min(box[1] + box[3], h)
    return np.array([x0, y0, max(x1 - x0, 1.0), max(y1 - y0, 1.0)])


def _fmt(b: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in b)
