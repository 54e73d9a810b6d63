"""OTB one-pass evaluation (OPE), exactly as the MATLAB benchmark toolkit computes it.

Rules (``SPEC.md`` §4, the toolkit's ``calcSeqErrRobust`` and ``calcRectInt``):

* centre of a box = ``x + (w − 1)/2``; IoU counts pixels (+1 convention);
* the first frame's prediction is replaced by the ground truth;
* a prediction with NaN or ``w, h ≤ 0`` is replaced by the previous prediction;
* frames whose ground truth has any value ≤ 0 get IoU −1 (never a success) and centre error −1
  (always within the threshold);
* success curve over ``0:0.05:1`` with ``IoU > t`` (AUC = its mean), precision curve over
  ``0..50`` px with ``error ≤ t`` (DP = value at 20 px); per sequence, then averaged over sequences.

``protocol="got10k"`` gives the got10k toolkit's variant instead: continuous IoU, first frame
replaced, no replacement of invalid predictions and no masking of invalid ground truth.
All functions are pure and vectorised.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Protocol = Literal["otb", "got10k"]
IOU_THRESHOLDS = np.linspace(0, 1, 21)
PIXEL_THRESHOLDS = np.arange(0, 51)
ATTRIBUTES = ("IV", "SV", "OCC", "DEF", "MB", "FM", "IPR", "OPR", "OV", "BC", "LR")


def overlap_pixels(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` boxes counting whole pixels (``calcRectInt``: right = x + w − 1)."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    iw = np.maximum(
        0, np.minimum(pred[:, 0] + pred[:, 2] - 1, gt[:, 0] + gt[:, 2] - 1) - np.maximum(pred[:, 0], gt[:, 0]) + 1
    )
    ih = np.maximum(
        0, np.minimum(pred[:, 1] + pred[:, 3] - 1, gt[:, 1] + gt[:, 3] - 1) - np.maximum(pred[:, 1], gt[:, 1]) + 1
    )
    inter = iw * ih
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / (pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter)


def overlap_continuous(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of boxes as continuous rectangles (got10k's ``rect_iou``)."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    iw = np.maximum(0, np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2]) - np.maximum(pred[:, 0], gt[:, 0]))
    ih = np.maximum(0, np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3]) - np.maximum(pred[:, 1], gt[:, 1]))
    inter = iw * ih
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(inter / (pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter))


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance between box centres ``x + (w − 1)/2``."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    cp = pred[:, :2] + (pred[:, 2:] - 1) / 2
    cg = gt[:, :2] + (gt[:, 2:] - 1) / 2
    return np.sqrt(((cp - cg) ** 2).sum(axis=1))


def repair_predictions(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """First frame := ground truth; NaN or non-positive-size predictions := the previous one."""
    out = np.array(pred, dtype=float, copy=True)
    out[0] = gt[0]
    bad = np.isnan(out).any(axis=1) | (out[:, 2] <= 0) | (out[:, 3] <= 0)
    if bad[1:].any():
        # forward-fill: each bad row takes the last good row before it (row 0 is good)
        idx = np.where(~bad, np.arange(len(out)), 0)
        np.maximum.accumulate(idx, out=idx)
        out = out[idx]
    return out


def sequence_errors(pred: np.ndarray, gt: np.ndarray, protocol: Protocol = "otb") -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ``(overlap, centre error)`` of one sequence under ``protocol``."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    if pred.shape != gt.shape:
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} ground-truth boxes")
    if protocol == "got10k":
        pred = pred.copy()
        pred[0] = gt[0]
        return overlap_continuous(pred, gt), center_error(pred, gt)
    pred = repair_predictions(pred, gt)
    overlaps = overlap_pixels(pred, gt)
    errors = center_error(pred, gt)
    invalid = (gt <= 0).any(axis=1) | np.isnan(gt).any(axis=1)
    overlaps[invalid] = -1
    errors[invalid] = -1
    return overlaps, errors


def success_curve(overlaps: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """Fraction of frames with overlap strictly above each threshold."""
    return (np.asarray(overlaps)[:, None] > thresholds[None, :]).mean(axis=0)


def precision_curve(errors: np.ndarray, thresholds: np.ndarray = PIXEL_THRESHOLDS) -> np.ndarray:
    """Fraction of frames whose centre error is at most each threshold."""
    return (np.asarray(errors)[:, None] <= thresholds[None, :]).mean(axis=0)


def evaluate_sequence(pred: np.ndarray, gt: np.ndarray, protocol: Protocol = "otb") -> dict:
    """Curves and scalar scores of one sequence."""
    overlaps, errors = sequence_errors(pred, gt, protocol)
    succ, prec = success_curve(overlaps), precision_curve(errors)
    valid = errors >= 0
    return {
        "success_curve": succ,
        "precision_curve": prec,
        "auc": float(succ.mean()),
        "dp20": float(prec[20]),
        "os50": float(success_curve(overlaps, np.array([0.5]))[0]),
        "cle": float(errors[valid].mean()) if valid.any() else float("nan"),
        "frames": len(gt),
    }


def aggregate(per_sequence: dict[str, dict]) -> dict:
    """Average the per-sequence curves (each sequence weighs the same) and derive the scores."""
    if not per_sequence:
        raise ValueError("no sequences to aggregate")
    succ = np.mean([r["success_curve"] for r in per_sequence.values()], axis=0)
    prec = np.mean([r["precision_curve"] for r in per_sequence.values()], axis=0)
    return {
        "success_curve": succ,
        "precision_curve": prec,
        "auc": float(succ.mean()),
        "dp20": float(prec[20]),
        "os50": float(np.mean([r["os50"] for r in per_sequence.values()])),
        "cle": float(np.nanmean([r["cle"] for r in per_sequence.values()])),
        "sequences": len(per_sequence),
    }
