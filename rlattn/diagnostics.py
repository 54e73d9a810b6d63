"""Why λ hurts, measured: the balance between the cross-entropy's and the regulariser's gradients.

A tracker with ``record_gradients = True`` writes, for every SGD step, the norms over fc4–fc6 of
``∇CE`` and ``∇(λ Σ R)`` before clipping, their cosine and whether clipping at ``grad_clip`` fired
(:func:`rlattn.training.train_classifier`). The functions here turn those records into what the
question needs: how large the regulariser's gradient is against the cross-entropy's, and how much
of the cross-entropy's step survives the clipping that the two share. Pure functions over the
history, plus :func:`record_gradient_balance` that makes one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rlattn.config import TrackerConfig

FIELDS = ("grad_ce", "grad_reg", "grad_cosine", "grad_total", "clipped")


def balance_arrays(history: Iterable[dict], stage: str | None = None) -> dict[str, np.ndarray]:
    """The recorded steps (of one ``stage``: ``"init"``, ``"long"``, ``"short"``; None = all) as arrays,
    with ``ce_kept``: the share of the cross-entropy's gradient the clipped step keeps,
    ``min(1, clip / ‖∇CE + ∇λR‖)`` (clipping scales the summed gradient, so both parts alike)."""
    rows = [r for r in history if "grad_ce" in r and (stage is None or r.get("stage") == stage)]
    out = {k: np.array([float(r[k]) for r in rows]) for k in FIELDS}
    out["frame"] = np.array([int(r.get("frame", 0)) for r in rows])
    out["stage"] = np.array([str(r.get("stage", "")) for r in rows])
    clip = np.array([float(r.get("grad_after_clip", 0.0)) for r in rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ce_kept"] = np.where(out["grad_total"] > 0, np.minimum(1.0, clip / out["grad_total"]), 1.0)
        out["ratio"] = out["grad_reg"] / out["grad_ce"]
    return out


def summarise_balance(history: Iterable[dict], stage: str | None = None) -> dict[str, float]:
    """Medians over the steps: ‖∇CE‖, ‖∇λR‖, their ratio and cosine, the share of steps clipped, and
    the cross-entropy step's norm after clipping (``ce_after_clip`` = ‖∇CE‖ × ``ce_kept``)."""
    a = balance_arrays(history, stage)
    if len(a["grad_ce"]) == 0:
        return {"steps": 0}

    def nanmedian(x: np.ndarray) -> float:  # λ = 0 has no regulariser: its cosines are all NaN
        return float(np.median(x[np.isfinite(x)])) if np.isfinite(x).any() else float("nan")

    return {
        "steps": int(len(a["grad_ce"])),
        "grad_ce": float(np.median(a["grad_ce"])),
        "grad_reg": float(np.median(a["grad_reg"])),
        "ratio": nanmedian(a["ratio"]),
        "cosine": nanmedian(a["grad_cosine"]),
        "clipped": float(np.mean(a["clipped"])),
        "ce_kept": float(np.median(a["ce_kept"])),
        "ce_after_clip": float(np.median(a["grad_ce"] * a["ce_kept"])),
    }


def record_gradient_balance(
    sequence, lambdas: Sequence[float], config: TrackerConfig | None = None, progress: bool = False
) -> dict[float, list[dict]]:
    """Track ``sequence`` once per λ with gradient recording on; each λ's training history."""
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence

    base = config or TrackerConfig(mode="fast")
    out: dict[float, list[dict]] = {}
    for lam in lambdas:
        tracker = DATTracker(base.replace(lam=float(lam)))
        tracker.record_gradients = True
        track_sequence(tracker, sequence, progress=progress)
        out[float(lam)] = list(tracker.history)
    return out
