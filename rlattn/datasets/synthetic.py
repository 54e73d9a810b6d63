"""A synthetic tracking sequence: a textured object moving, scaling and partly occluded over clutter.

Deterministic for a given seed, generated in memory in well under a second, so every pipeline can
be run and tested without downloading a benchmark. :func:`write_sequence` saves it in OTB layout.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rlattn.datasets.sequence import Sequence


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    small = rng.random((max(h // cell, 2), max(w // cell, 2), 3)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    bg = 0.55 * _smooth_noise(rng, h, w, 40) + 0.25 * _smooth_noise(rng, h, w, 12)
    bg = bg * 255 * 0.9
    for _ in range(25):  # clutter: rectangles and discs of random colours
        colour = rng.integers(30, 220, 3).tolist()
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(6, 30))
        if rng.random() < 0.5:
            cv2.rectangle(bg, (x, y), (x + s, y + int(rng.integers(6, 30))), colour, -1)
        else:
            cv2.circle(bg, (x, y), s // 2, colour, -1)
    return np.clip(bg, 0, 255)


def _object_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A distinctive target: a two-colour checkerboard with a bright ring and a dark stripe."""
    yy, xx = np.mgrid[0:h, 0:w]
    check = ((yy // 8 + xx // 8) % 2).astype(np.float32)[:, :, None]
    a = np.array([220, 40, 40], np.float32)
    b = np.array([250, 210, 30], np.float32)
    tex = check * a + (1 - check) * b
    cy, cx = h / 2, w / 2
    r = np.sqrt(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2)
    tex[(r > 0.28) & (r < 0.36)] = (255, 255, 255)
    tex[:, int(0.45 * w) : int(0.55 * w)] = (20, 20, 90)
    return tex + rng.normal(0, 6, tex.shape).astype(np.float32)


def make_synthetic_sequence(
    n_frames: int = 60, size: tuple[int, int] = (320, 240), seed: int = 0, name: str = "synthetic"
) -> Sequence:
    """``n_frames`` RGB frames of ``size = (width, height)`` and their exact 1-based boxes.

    The object follows a smooth Lissajous path over about half the frame, its scale swings
    between ×0.75 and ×1.25, and a grey bar sweeps over it around the middle of the sequence,
    covering up to ~40% of it.
    """
    rng = np.random.default_rng(seed)
    w_img, h_img = size
    bg = _background(rng, h_img, w_img)
    base_w, base_h = 44, 36
    texture = _object_texture(rng, base_h * 2, base_w * 2)
    frames, boxes = [], []
    for t in range(n_frames):
        phase = 2 * np.pi * t / max(n_frames, 2)
        s = 1.0 + 0.25 * np.sin(1.5 * phase)
        ow, oh = max(int(round(base_w * s)), 8), max(int(round(base_h * s)), 8)
        cx = w_img / 2 + 0.25 * w_img * np.sin(phase)
        cy = h_img / 2 + 0.2 * h_img * np.sin(2 * phase + 0.5)
        x0, y0 = int(round(cx - ow / 2)), int(round(cy - oh / 2))
        frame = bg.copy()
        obj = cv2.resize(texture, (ow, oh), interpolation=cv2.INTER_AREA)
        frame[y0 : y0 + oh, x0 : x0 + ow] = obj
        # occluder: a bar crossing the target's left side in the middle third of the sequence
        u = (t - n_frames / 3) / max(n_frames / 3, 1)
        if 0 <= u <= 1:
            bar_x = int(x0 - 0.6 * ow + 1.0 * ow * np.sin(np.pi * u))
            cv2.rectangle(frame, (bar_x, 0), (bar_x + int(0.4 * ow), h_img), (120, 120, 130), -1)
        frame += rng.normal(0, 4, frame.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        boxes.append([x0 + 1, y0 + 1, ow, oh])
    return Sequence(name=name, frames=frames, boxes=np.asarray(boxes, dtype=np.float64))


def write_sequence(seq: Sequence, out_dir: str | Path) -> Path:
    """Save an in-memory sequence in OTB layout (``img/0001.jpg``..., ``groundtruth_rect.txt``)."""
    out = Path(out_dir)
    (out / "img").mkdir(parents=True, exist_ok=True)
    for i in range(len(seq)):
        cv2.imwrite(str(out / "img" / f"{i + 1:04d}.jpg"), cv2.cvtColor(seq.image(i), cv2.COLOR_RGB2BGR))
    if seq.boxes is not None:
        tmp = out / "groundtruth_rect.txt.tmp"
        np.savetxt(tmp, seq.boxes, fmt="%g", delimiter=",")
        tmp.replace(out / "groundtruth_rect.txt")
    return out


SYNTHETIC_SET = tuple(f"Synthetic{i}" for i in range(1, 6))  # seeds 1..5, 80 frames each


def make_synthetic_dataset(root: str | Path, n_frames: int = 80) -> Path:
    """Write the named ``synthetic`` set in OTB layout under ``root/otb`` (skipping what is there).

    Each sequence's ground truth is written last, so an interrupted write is redone next time.
    """
    otb = Path(root) / "otb"
    for i, name in enumerate(SYNTHETIC_SET, start=1):
        if not (otb / name / "groundtruth_rect.txt").is_file():
            write_sequence(make_synthetic_sequence(n_frames=n_frames, seed=i, name=name), otb / name)
    return otb
