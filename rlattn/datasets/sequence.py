"""A tracking sequence (frames + first-frame-aligned ground truth) and robust file readers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rlattn.errors import RlattnError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class Sequence:
    """Frames (paths or arrays) with one ground-truth box per frame (OTB ``x,y,w,h``, 1-based).

    ``boxes`` may be ``None`` when only a first box is known (``--init``). ``polygons`` keeps
    VOT's rotated boxes; ``first_frame`` is the file number of frame 0 (David starts at 300).
    """

    name: str
    frames: list
    boxes: np.ndarray | None
    polygons: np.ndarray | None = None
    attributes: list[str] = field(default_factory=list)
    first_frame: int = 1
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, i: int) -> np.ndarray:
        frame = self.frames[i]
        return frame if isinstance(frame, np.ndarray) else load_image(frame)

    def truncated(self, n: int | None) -> Sequence:
        """The first ``n`` frames (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise RlattnError(f"--frames must be >= 1, got {n}")
        cut = lambda a: None if a is None else a[:n]  # noqa: E731
        return Sequence(
            self.name,
            self.frames[:n],
            cut(self.boxes),
            cut(self.polygons),
            list(self.attributes),
            self.first_frame,
            self.path,
        )


def load_image(path: Path) -> np.ndarray:
    """An image file as ``HxWx3 uint8`` RGB (grayscale files are expanded)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        what = "missing" if not Path(path).exists() else "unreadable (not an image, or truncated)"
        raise RlattnError(f"frame {path} is {what}")
    if Path(path).suffix.lower() in (".jpg", ".jpeg") and not _jpeg_complete(Path(path)):
        # libjpeg decodes a cut file into a half-grey frame with only a warning on stderr
        raise RlattnError(f"frame {path} is truncated (its JPEG data ends without an end-of-image marker)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _jpeg_complete(path: Path, tail: int = 4096) -> bool:
    """Whether a JPEG file holds its end-of-image marker (FF D9) near its end. Inside the compressed
    data every FF byte is followed by 00 or a restart marker, so FF D9 there can only be the end."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(size - tail, 0))
        return b"\xff\xd9" in fh.read()


def list_frames(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise RlattnError(f"frame folder not found: {folder}")
    # numbers compared as numbers: 1.jpg, 2.jpg, ..., 10.jpg (not 1, 10, 2); zero-padded names sort alike
    frames = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not frames:
        raise RlattnError(f"no frames ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return frames


def _natural_key(path: Path) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name) if part]


_SPLIT = re.compile(r"[,\s;]+")


def read_rows(path: Path, what: str = "ground-truth file") -> list[np.ndarray]:
    """Numeric rows of a comma/tab/space separated annotation (or result: ``what``) file; trailing
    blank lines skipped."""
    if not path.is_file():
        raise RlattnError(f"{what} not found: {path}")
    lines = path.read_text(errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise RlattnError(f"{what} {path} is empty")
    rows = []
    for no, line in enumerate(lines, 1):
        parts = [p for p in _SPLIT.split(line.strip()) if p]
        try:
            values = np.array([float(p) for p in parts])
        except ValueError:
            raise RlattnError(f"{path}:{no}: cannot read numbers from {line.strip()[:60]!r}") from None
        rows.append(values)
    return rows


def polygon_to_box(poly: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding box ``x,y,w,h`` of ``(N, 2k)`` polygons."""
    xs, ys = poly[:, 0::2], poly[:, 1::2]
    x0, y0 = xs.min(1), ys.min(1)
    return np.stack([x0, y0, xs.max(1) - x0, ys.max(1) - y0], axis=1)


def read_boxes(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``(boxes, polygons)`` from a ground-truth file of 4-value boxes or 8-value polygons."""
    rows = read_rows(path)
    widths = {len(r) for r in rows}
    for no, r in enumerate(rows, 1):
        if len(r) not in (4, 8):
            raise RlattnError(f"{path}:{no}: expected 4 numbers (x,y,w,h) or 8 (polygon), got {len(r)}")
    if widths == {4}:
        return np.stack(rows), None
    polys = np.stack([r if len(r) == 8 else rect_polygon(r) for r in rows])
    return polygon_to_box(polys), polys


def rect_polygon(r: np.ndarray) -> np.ndarray:
    """The 8-value polygon (corners clockwise from top-left) of an ``x,y,w,h`` box."""
    x, y, w, h = r
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h])
