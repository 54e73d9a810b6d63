from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rlattn.model import Classifier, DATNet

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

needs_shared = pytest.mark.skipif(not (SHARED / "otb").is_dir(), reason="../shared/data not present")


class TinyBackbone(nn.Module):
    """A smooth (tanh) conv net small enough for finite differences in float64."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x / 64.0))


@pytest.fixture
def tiny_net() -> DATNet:
    torch.manual_seed(0)
    bb = TinyBackbone().double().eval()
    for p in bb.parameters():
        p.requires_grad_(False)
    net = DATNet(bb, img_size=9).double()
    net.classifier = Classifier(net.feature_dim, hidden=16).double()
    for m in net.classifier.modules():  # larger weights than MDNet's 0.01 so that maps are not tiny
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.5)
    return net.eval()


def write_otb_folder(root: Path, frames: list[np.ndarray], boxes, name: str = "Seq", gt_name="groundtruth_rect.txt"):
    import cv2

    seq = root / name
    (seq / "img").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(seq / "img" / f"{i + 1:04d}.jpg"), f if f.ndim == 2 else f[:, :, ::-1])
    if boxes is not None:
        (seq / gt_name).write_text("\n".join(",".join(str(v) for v in b) for b in boxes) + "\n")
    return seq
