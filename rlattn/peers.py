"""OpenCV trackers (CSRT, KCF, NanoTrack) behind rlattn's ``Tracker`` protocol, as peers for the
experiments. Boxes in and out are OTB ``x,y,w,h`` (1-based), images RGB ``uint8``."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rlattn.boxes import to_one_based, to_zero_based, validate_init_box
from rlattn.errors import RlattnError
from rlattn.tracker import as_rgb

NANOTRACK_FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")

try:  # OpenCV's DNN backend warns on every NanoTrack start that it ignores the preferred target
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
except AttributeError:  # pragma: no cover - older builds
    pass


def default_nanotrack_dir() -> Path | None:
    env = os.environ.get("RLATTN_NANOTRACK_DIR")
    if env:
        return Path(env)
    from rlattn.datasets.otb import default_data_root

    root = default_data_root()  # shared/data; the models sit beside it in shared/models
    cand = root.parent / "models" / "nanotrack" if root else None
    return cand if cand is not None and cand.is_dir() else None


class OpenCVTracker:
    """One of OpenCV's trackers; a frame where it reports failure keeps the previous box."""

    def __init__(self, kind: str, nanotrack_dir: str | Path | None = None) -> None:
        self.kind = kind.lower()
        self.name = {"csrt": "CSRT", "kcf": "KCF", "nanotrack": "NanoTrack"}.get(self.kind)
        if self.name is None:
            raise RlattnError(f"unknown OpenCV tracker {kind!r}; choose csrt, kcf or nanotrack")
        self.nanotrack_dir = Path(nanotrack_dir) if nanotrack_dir else default_nanotrack_dir()
        if self.kind == "nanotrack":
            missing = [f for f in NANOTRACK_FILES if not (self.nanotrack_dir and (self.nanotrack_dir / f).is_file())]
            if missing:
                raise RlattnError(
                    f"NanoTrack needs {', '.join(NANOTRACK_FILES)} in --nanotrack-dir "
                    f"(looked in {self.nanotrack_dir or 'no folder'}; ../shared/models/nanotrack has them)"
                )
        self.box: np.ndarray | None = None

    def _create(self):
        if self.kind == "csrt":
            return cv2.TrackerCSRT_create()
        if self.kind == "kcf":
            return cv2.TrackerKCF_create()
        params = cv2.TrackerNano_Params()
        params.backbone = str(self.nanotrack_dir / NANOTRACK_FILES[0])
        params.neckhead = str(self.nanotrack_dir / NANOTRACK_FILES[1])
        return cv2.TrackerNano_create(params)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        image = as_rgb(image)
        # OpenCV itself accepts an empty box and then reports success with 1-px boxes
        b = to_one_based(validate_init_box(to_zero_based(box)[0], image.shape, what="initial box"))[0]
        self.tracker = self._create()
        self.box = b.copy()
        x, y, w, h = (int(round(v)) for v in (b[0] - 1, b[1] - 1, b[2], b[3]))
        self.tracker.init(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), (x, y, max(w, 1), max(h, 1)))

    def update(self, image: np.ndarray) -> np.ndarray:
        ok, (x, y, w, h) = self.tracker.update(cv2.cvtColor(as_rgb(image), cv2.COLOR_RGB2BGR))
        if ok and w > 0 and h > 0:
            self.box = np.array([x + 1, y + 1, w, h], dtype=np.float64)
        return self.box.copy()
