"""Pictures of a run: boxes drawn on frames (prediction red, ground truth green), a summary figure,
and a video or frame folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rlattn.boxes import iou

RED, GREEN = (230, 30, 30), (30, 200, 30)


def draw_boxes(image: np.ndarray, pred: np.ndarray | None, truth: np.ndarray | None, label: str = "") -> np.ndarray:
    """A copy of an RGB frame with 1-based boxes drawn: ``pred`` red, ``truth`` green."""
    out = np.ascontiguousarray(image).copy()
    thick = max(1, round(max(out.shape[:2]) / 300))
    for box, colour in ((truth, GREEN), (pred, RED)):
        if box is None or not np.all(np.isfinite(box)):
            continue
        x, y, w, h = box
        cv2.rectangle(
            out, (int(round(x - 1)), int(round(y - 1))), (int(round(x - 1 + w)), int(round(y - 1 + h))), colour, thick
        )
    if label:
        cv2.putText(out, label, (5, 15 + 5 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick + 0.1, (255, 255, 0), thick)
    return out


def summary_figure(
    path: Path, frames: list[np.ndarray], idx: list[int], pred: np.ndarray, truth: np.ndarray | None, title: str
) -> Path:
    """Chosen frames with their boxes, and IoU over time when the ground truth is known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_truth = truth is not None
    fig = plt.figure(figsize=(3.2 * len(idx), 5.6 if has_truth else 3.2))
    grid = fig.add_gridspec(2 if has_truth else 1, len(idx), height_ratios=[3, 2] if has_truth else [1])
    for k, (i, frame) in enumerate(zip(idx, frames)):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(draw_boxes(frame, pred[i], truth[i] if has_truth else None))
        ax.set_title(f"frame {i + 1}", fontsize=9)
        ax.axis("off")
    if has_truth:
        ax = fig.add_subplot(grid[1, :])
        overlaps = iou(pred, truth)
        ax.plot(np.arange(1, len(overlaps) + 1), overlaps, color="tab:red")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("frame")
        ax.set_ylabel("IoU with ground truth")
        ax.set_title(f"mean IoU {overlaps.mean():.3f}", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(title + "  (red: tracker, green: ground truth)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


class FrameWriter:
    """Writes annotated frames as ``<dir>/NNNN.jpg`` and/or an ``.mp4`` video, frame by frame."""

    def __init__(self, frames_dir: Path | None = None, video_path: Path | None = None, fps: float = 25.0) -> None:
        self.frames_dir, self.video_path, self.fps = frames_dir, video_path, fps
        self.writer = None
        self.size: tuple[int, int] | None = None
        if frames_dir is not None:
            frames_dir.mkdir(parents=True, exist_ok=True)

    def add(self, index: int, frame: np.ndarray) -> None:
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if self.frames_dir is not None:
            cv2.imwrite(str(self.frames_dir / f"{index + 1:04d}.jpg"), bgr)
        if self.video_path is not None:
            if self.writer is None:
                self.size = (bgr.shape[1], bgr.shape[0])
                self.writer = cv2.VideoWriter(
                    str(self.video_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size
                )
            if (bgr.shape[1], bgr.shape[0]) != self.size:  # a video needs one frame size throughout
                bgr = cv2.resize(bgr, self.size)
            self.writer.write(bgr)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def patch_to_image(patch) -> np.ndarray:
    """A centred ``(3, H, W)`` patch tensor (value − 128) as an ``HxWx3 uint8`` image for display."""
    arr = np.asarray(patch.detach().cpu() if hasattr(patch, "detach") else patch, dtype=np.float64)
    return np.clip(arr.transpose(1, 2, 0) + 128.0, 0, 255).astype(np.uint8)


def confidence_map(
    candidates: np.ndarray, scores: np.ndarray, shape: tuple[int, int], step: int = 2, spread: float = 0.15
) -> np.ndarray:
    """The classifier's belief over the frame (the paper's Fig. 3 "confidence map"): each candidate
    box puts its target probability ``sigmoid(score)`` as a Gaussian bump (σ = ``spread`` × its
    mean side) at its centre; a pixel shows the largest bump. ``shape`` is the frame's ``(H, W)``;
    the map is computed every ``step`` pixels and returned at ``(H, W)``."""
    h, w = shape
    c = np.asarray(candidates, dtype=np.float64)
    cx, cy = c[:, 0] - 1 + c[:, 2] / 2, c[:, 1] - 1 + c[:, 3] / 2
    sigma = spread * (c[:, 2] + c[:, 3]) / 2
    prob = 1.0 / (1.0 + np.exp(-np.asarray(scores, dtype=np.float64)))
    ys, xs = np.arange(0, h, step, dtype=np.float64), np.arange(0, w, step, dtype=np.float64)
    gy = np.exp(-((ys[None, :] - cy[:, None]) ** 2) / (2 * sigma[:, None] ** 2))  # (N, h')
    gx = np.exp(-((xs[None, :] - cx[:, None]) ** 2) / (2 * sigma[:, None] ** 2))  # (N, w')
    grid = (prob[:, None, None] * gy[:, :, None] * gx[:, None, :]).max(axis=0)
    return cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
