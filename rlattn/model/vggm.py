"""MDNet's VGG-M conv1-3, and a loader for MatConvNet's ``imagenet-vgg-m.mat`` (or a ``.pth``).

This is the paper's backbone. Its weights are not redistributable through PyPI; get
``imagenet-vgg-m.mat`` from the MatConvNet pretrained-model page
(https://www.vlfeat.org/matconvnet/pretrained/, "imagenet-vgg-m") or from py-MDNet's
``models/`` instructions, and pass it with ``--weights``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rlattn.errors import RlattnError
from rlattn.model.state import load_state_strict

WHERE_TO_GET = (
    "download imagenet-vgg-m.mat from https://www.vlfeat.org/matconvnet/pretrained/ "
    "(listed as imagenet-vgg-m) and pass it with --weights / TrackerConfig(weights=...)"
)


class LRN(nn.Module):
    """Cross-channel local response normalisation as in MDNet (size 5, α 1e-4, β 0.75, k 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2 = x.pow(2).unsqueeze(1)  # N,1,C,H,W
        pad = torch.nn.functional.pad(x2, (0, 0, 0, 0, 2, 2))
        window = sum(pad[:, :, i : i + x.shape[1]] for i in range(5)).squeeze(1)
        return x / (2.0 + 1e-4 * window).pow(0.75)


class VGGMFeatures(nn.Module):
    """conv1 96×7×7/2 → ReLU → LRN → maxpool 3/2 → conv2 256×5×5/2 → ReLU → LRN → maxpool 3/2
    → conv3 512×3×3 → ReLU; a 107×107 patch gives 512×3×3 features (fc4 sees 4608)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 7, stride=2)
        self.conv2 = nn.Conv2d(96, 256, 5, stride=2)
        self.conv3 = nn.Conv2d(256, 512, 3, stride=1)
        self.lrn = LRN()
        self.pool = nn.MaxPool2d(3, stride=2)

    @staticmethod
    def layer_geometry() -> list[tuple[int, int, int]]:
        """(kernel, stride, padding) in forward order: conv1, pool, conv2, pool, conv3."""
        return [(7, 2, 0), (3, 2, 0), (5, 2, 0), (3, 2, 0), (3, 1, 0)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: centred pixels (value − 128), as MDNet feeds VGG-M."""
        return self.rest(self.first_layer(x))

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 and its ReLU: where the authors' code hooked its attention map (96×51×51)."""
        return torch.relu(self.conv1(x))

    def rest(self, h: torch.Tensor) -> torch.Tensor:
        """Everything after :meth:`first_layer`."""
        x = self.pool(self.lrn(h))
        x = self.pool(self.lrn(torch.relu(self.conv2(x))))
        return torch.relu(self.conv3(x))


def _mat_layers(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (filters HxWxCinxCout, biases)}`` for the conv layers of a MatConvNet model."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path), squeeze_me=False, struct_as_record=True)
    except Exception as exc:  # scipy raises many types for a bad file
        raise RlattnError(f"cannot read {path} as a MatConvNet .mat file: {exc}") from exc
    if "layers" not in mat:
        raise RlattnError(f"{path} has no 'layers' variable; is it a MatConvNet model (imagenet-vgg-m.mat)?")
    out = {}
    for cell in np.ravel(mat["layers"]):
        layer = cell[0, 0] if isinstance(cell, np.ndarray) and cell.dtype == object else cell
        if "weights" not in layer.dtype.names:
            continue
        name = str(np.ravel(layer["name"])[0][0]) if "name" in layer.dtype.names else ""
        weights = np.ravel(layer["weights"][0, 0] if layer["weights"].dtype == object else layer["weights"])
        if len(weights) < 2 or np.size(weights[0]) == 0:
            continue
        out[name] = (np.asarray(weights[0], np.float32), np.asarray(weights[1], np.float32).reshape(-1))
    return out


def load_vggm(weights: str | Path | None) -> VGGMFeatures:
    """VGG-M conv1-3 with weights from ``imagenet-vgg-m.mat`` or a ``.pth`` state dict."""
    if weights is None:
        raise RlattnError(f"the vggm backbone needs its ImageNet weights: {WHERE_TO_GET}")
    path = Path(weights)
    if not path.is_file():
        raise RlattnError(f"VGG-M weights file not found: {path}; {WHERE_TO_GET}")
    net = VGGMFeatures()
    if path.suffix == ".mat":
        layers = _mat_layers(path)
        for name in ("conv1", "conv2", "conv3"):
            if name not in layers:
                raise RlattnError(f"{path} has no layer named {name!r} (found: {', '.join(layers) or 'none'})")
            w, b = layers[name]
            conv = getattr(net, name)
            w = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))  # HWIO -> OIHW
            if tuple(w.shape) != tuple(conv.weight.shape):
                raise RlattnError(f"{path}: {name} has shape {tuple(w.shape)}, expected {tuple(conv.weight.shape)}")
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(torch.from_numpy(b))
    else:
        load_state_strict(net, path, "VGG-M (VGGMFeatures)")
    return net
