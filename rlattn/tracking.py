"""Run one tracker over one sequence: the loop every experiment and the CLI share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from rlattn.checkpoints import Checkpoint
from rlattn.datasets.sequence import Sequence
from rlattn.errors import RlattnError
from rlattn.tracker import Tracker


def track_sequence(
    tracker: Tracker,
    seq: Sequence,
    init_box: np.ndarray | None = None,
    *,
    progress: bool = True,
    on_frame: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[np.ndarray, dict]:
    """Boxes ``(N, 4)`` (1-based ``x,y,w,h``; frame 0 is the initial box) and timing facts.

    ``fps`` counts the frames after the first over the time spent in ``update`` (image loading
    excluded), as the OTB toolkit does; ``init_seconds`` is the first frame's ``init``.
    ``on_frame(i, image, box)`` is called for every frame (drawing, video...); after a resume,
    for the frames tracked since.

    With a ``checkpoint`` (trackers with ``snapshot``/``restore`` only) the run starts from the
    checkpoint's frame when it holds one of this run, and saves one whenever it is due; the
    boxes are those of an uninterrupted run. ``resumed_at`` in the facts lists the frames
    (0-based) a run was resumed after.
    """
    box0 = np.asarray(init_box if init_box is not None else seq.boxes[0], dtype=np.float64)
    image = seq.image(0)
    size = image.shape[:2]
    if checkpoint is not None and not hasattr(tracker, "snapshot"):
        checkpoint = None  # OpenCV's trackers keep their state out of reach: they run through
    boxes = np.zeros((len(seq), 4))
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None and len(saved["boxes"]) <= len(seq):
        tracker.restore(saved["tracker"])
        done = len(saved["boxes"])
        boxes[:done] = saved["boxes"].numpy()
        init_seconds, update_seconds = saved["init_seconds"], saved["update_seconds"]
        resumed_at = [*saved["resumed_at"], done - 1]
        parts = list(saved["parts"])
    else:
        t0 = time.perf_counter()
        tracker.init(image, box0)
        init_seconds = time.perf_counter() - t0
        boxes[0] = box0
        if on_frame is not None:
            on_frame(0, image, box0)
        done, update_seconds, resumed_at, parts = 1, 0.0, [], []
    bar = tqdm(range(done, len(seq)), desc=seq.name, unit="frame", disable=not progress, leave=False)
    for i in bar:
        image = seq.image(i)
        if image.shape[:2] != size:
            raise RlattnError(
                f"{seq.name}: frame {i + 1} is {image.shape[1]}x{image.shape[0]}, the first frame "
                f"{size[1]}x{size[0]}; a sequence's frames must share one size"
            )
        t = time.perf_counter()
        boxes[i] = tracker.update(image)
        update_seconds += time.perf_counter() - t
        if on_frame is not None:
            on_frame(i, image, boxes[i])
        bar.set_postfix(fps=f"{i / max(update_seconds, 1e-9):.2f}")
        if checkpoint is not None and checkpoint.due() and i + 1 < len(seq):
            checkpoint.save(
                {
                    "tracker": tracker.snapshot(),
                    "boxes": torch.from_numpy(boxes[: i + 1].copy()),
                    "init_seconds": init_seconds,
                    "update_seconds": update_seconds,
                    "resumed_at": resumed_at,
                    "parts": [*parts, checkpoint.note],
                }
            )
    n_updates = len(seq) - 1
    info = {
        "sequence": seq.name,
        "frames": len(seq),
        "fps": n_updates / update_seconds if update_seconds > 0 else None,
        "init_seconds": init_seconds,
        "update_seconds": update_seconds,
    }
    if resumed_at:  # the frames each earlier part ended at, and what made those parts
        info["resumed_at"] = resumed_at
        info["earlier_parts"] = parts
    paths = getattr(tracker, "compute_paths", None)
    if paths:
        info["compute_paths"] = dict(paths)
    timings = getattr(tracker, "timings", None)
    if timings:
        info["phase_seconds"] = {k: round(v, 4) for k, v in timings.items()}
    return boxes, info


@dataclass
class FrameDiagnostics:
    """What DAT saw in one frame: its candidates and their target scores, and the attention map
    ``A_p`` (Eq. 2, summed over colour) of the patch of the box it reported."""

    index: int
    candidates: np.ndarray | None  # (N, 4) 1-based x, y, w, h; None on the first frame
    scores: np.ndarray | None  # (N,) target scores f_p − for the candidates
    patch: np.ndarray  # 107x107x3 uint8, the reported box with its context
    attention: np.ndarray  # 107x107 float32
    # attentive-features trackers only: the module's weight per feature cell (e.g. 7x7) for the
    # reported box, from the features the tracker itself uses (region-pooled in fast mode)
    feature_weights: np.ndarray | None = None


def track_with_diagnostics(
    tracker, seq: Sequence, *, progress: bool = True
) -> tuple[np.ndarray, dict, list[FrameDiagnostics]]:
    """:func:`track_sequence` for a :class:`~rlattn.tracker.DATTracker`, also recording every frame's
    candidates, scores and attention map (the paper's Fig. 3), and the feature weights of an
    attentive-features tracker. Adds ~0.05 s per frame, outside the timed ``update``."""
    import torch

    from rlattn.attention import attention_maps
    from rlattn.boxes import to_one_based, to_zero_based
    from rlattn.patches import extract_patches, image_tensor
    from rlattn.tracker import as_rgb
    from rlattn.visualize import patch_to_image

    records: list[FrameDiagnostics] = []

    def on_frame(i: int, image: np.ndarray, box: np.ndarray) -> None:
        cfg = tracker.config
        img = image_tensor(as_rgb(image), tracker.device)
        patch = extract_patches(img, to_zero_based(box), cfg.img_size, cfg.padding)
        amap = attention_maps(tracker.net, patch, 1, create_graph=False)[0].sum(0)
        weights = None
        module = tracker.net.classifier.attention
        if module is not None:
            with torch.no_grad():
                feats = tracker.extract(img, to_zero_based(box), tracker.target)
                weights = module.weights(feats)[0, 0].cpu().numpy().astype(np.float32)
        cands = None if i == 0 else to_one_based(tracker.last_samples)
        scores = None if i == 0 else np.asarray(tracker.last_scores, dtype=np.float32)
        records.append(
            FrameDiagnostics(
                i, cands, scores, patch_to_image(patch[0]), amap.detach().cpu().numpy().astype(np.float32), weights
            )
        )

    boxes, info = track_sequence(tracker, seq, progress=progress, on_frame=on_frame)
    return boxes, info, records
