"""Datasets: OTB and VOT folders, and a synthetic sequence that needs no download."""

from __future__ import annotations

from pathlib import Path

from rlattn.datasets.otb import default_data_root, load_otb_sequence
from rlattn.datasets.sequence import Sequence, load_image
from rlattn.datasets.synthetic import make_synthetic_sequence, write_sequence
from rlattn.datasets.vot import load_vot_sequence
from rlattn.errors import RlattnError

__all__ = [
    "Sequence",
    "default_data_root",
    "load_image",
    "load_otb_sequence",
    "load_vot_sequence",
    "make_synthetic_sequence",
    "open_sequence",
    "write_sequence",
]


def open_sequence(path: str | Path, target: int | None = None, start_frame: int | None = None) -> Sequence:
    """An OTB-layout (``img/``) or VOT-layout (``color/`` or ``groundtruth.txt``) folder."""
    path = Path(path)
    if not path.exists():
        raise RlattnError(f"sequence folder not found: {path}")
    if not path.is_dir():
        raise RlattnError(f"{path} is a file; --sequence takes a folder (OTB img/ or VOT color/ layout)")
    if (path / "img").is_dir():
        return load_otb_sequence(path, target=target, start_frame=start_frame)
    if (path / "color").is_dir() or (path / "groundtruth.txt").is_file():
        return load_vot_sequence(path)
    raise RlattnError(
        f"{path} is neither an OTB folder (img/ + groundtruth_rect.txt) nor a VOT folder (color/ + groundtruth.txt)"
    )
