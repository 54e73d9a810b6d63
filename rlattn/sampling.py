"""MDNet's sample generators: gaussian, uniform and whole-image boxes around a target.

Boxes are 0-based ``(x, y, w, h)``. Each generator works on centres, then clips widths/heights to
``[10, size - 10]`` and centres so the box stays in the image, as py-MDNet's ``SampleGenerator``.
All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from rlattn.boxes import iou  # noqa: F401  (re-exported: sampling labels samples by IoU)
from rlattn.patches import extract_patches  # noqa: F401  (re-exported for the public API)

Kind = Literal["gaussian", "uniform", "whole"]


def generate(
    rng: np.random.Generator,
    kind: Kind,
    box: np.ndarray,
    n: int,
    image_size: tuple[int, int],
    trans: float = 1.0,
    scale: float = 1.0,
    aspect: float | None = None,
) -> np.ndarray:
    """``n`` boxes drawn around ``box``; ``image_size`` is ``(width, height)``."""
    box = np.asarray(box, dtype=np.float64)
    size = np.asarray(image_size, dtype=np.float64)
    center = box[:2] + box[2:] / 2
    samples = np.tile(np.concatenate([center, box[2:]]), (n, 1))
    mean_wh = box[2:].mean()
    if kind == "gaussian":
        samples[:, :2] += trans * mean_wh * np.clip(0.5 * rng.standard_normal((n, 2)), -1, 1)
        samples[:, 2:] *= scale ** np.clip(0.5 * rng.standard_normal((n, 1)), -1, 1)
    elif kind == "uniform":
        samples[:, :2] += trans * mean_wh * (rng.random((n, 2)) * 2 - 1)
        samples[:, 2:] *= scale ** (rng.random((n, 1)) * 2 - 1)
    elif kind == "whole":
        m = int(2 * np.sqrt(n)) + 1
        grid = np.dstack(np.meshgrid(np.linspace(0, 1, m), np.linspace(0, 1, m))).reshape(-1, 2)
        grid = rng.permutation(grid)[:n]
        samples[:, :2] = box[2:] / 2 + grid * (size - box[2:] / 2 - 1)
        samples[:, 2:] *= scale ** (rng.random((n, 1)) * 2 - 1)
    else:
        raise ValueError(f"unknown sample kind {kind!r}")
    if aspect is not None:
        samples[:, 2:] *= aspect ** (rng.random((n, 2)) * 2 - 1)
    # keep sizes within the image (and at least 10 px) and centres inside it
    hi = np.maximum(size - 10, 10)
    samples[:, 2:] = np.clip(samples[:, 2:], 10, hi)
    lo_c = samples[:, 2:] / 2
    hi_c = np.maximum(size - samples[:, 2:] / 2 - 1, lo_c)
    samples[:, :2] = np.clip(samples[:, :2], lo_c, hi_c)
    samples[:, :2] -= samples[:, 2:] / 2
    return samples


def generate_with_overlap(
    rng: np.random.Generator,
    kind: Kind,
    box: np.ndarray,
    n: int,
    image_size: tuple[int, int],
    overlap: tuple[float, float],
    *,
    max_tries: int = 20,
    **params,
) -> np.ndarray:
    """``n`` boxes whose IoU with ``box`` lies in ``[lo, hi]``; fewer only if the range is
    (nearly) unreachable, e.g. a target filling the frame has no low-overlap negatives."""
    lo, hi = overlap
    kept: list[np.ndarray] = []
    have = 0
    for _ in range(max_tries):
        cand = generate(rng, kind, box, 2 * max(n, 1), image_size, **params)
        ov = iou(cand, box)
        cand = cand[(ov >= lo) & (ov <= hi)]
        kept.append(cand)
        have += len(cand)
        if have >= n:
            break
    pool = np.concatenate(kept) if kept else np.zeros((0, 4))
    if len(pool) > n:
        pool = pool[rng.choice(len(pool), n, replace=False)]
    return pool
