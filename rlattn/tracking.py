"""Run one tracker over one sequence: the loop every experiment and the CLI share."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from rlattn.datasets.sequence import Sequence
from rlattn.tracker import Tracker


def track_sequence(
    tracker: Tracker,
    seq: Sequence,
    init_box: np.ndarray | None = None,
    *,
    progress: bool = True,
    on_frame: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, dict]:
    """Boxes ``(N, 4)`` (1-based ``x,y,w,h``; frame 0 is the initial box) and timing facts.

    ``fps`` counts the frames after the first over the time spent in ``update`` (image loading
    excluded), as the OTB toolkit does; ``init_seconds`` is the first frame's ``init``.
    ``on_frame(i, image, box)`` is called for every frame (drawing, video...).
    """
    box0 = np.asarray(init_box if init_box is not None else seq.boxes[0], dtype=np.float64)
    image = seq.image(0)
    t0 = time.perf_counter()
    tracker.init(image, box0)
    init_seconds = time.perf_counter() - t0
    boxes = np.zeros((len(seq), 4))
    boxes[0] = box0
    if on_frame is not None:
        on_frame(0, image, box0)
    update_seconds = 0.0
    bar = tqdm(range(1, len(seq)), desc=seq.name, unit="frame", disable=not progress, leave=False)
    for i in bar:
        image = seq.image(i)
        t = time.perf_counter()
        boxes[i] = tracker.update(image)
        update_seconds += time.perf_counter() - t
        if on_frame is not None:
            on_frame(i, image, boxes[i])
        bar.set_postfix(fps=f"{i / max(update_seconds, 1e-9):.2f}")
    n_updates = len(seq) - 1
    info = {
        "sequence": seq.name,
        "frames": len(seq),
        "fps": n_updates / update_seconds if update_seconds > 0 else None,
        "init_seconds": init_seconds,
        "update_seconds": update_seconds,
    }
    timings = getattr(tracker, "timings", None)
    if timings:
        info["phase_seconds"] = {k: round(v, 4) for k, v in timings.items()}
    return boxes, info
