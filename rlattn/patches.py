"""Cropping 107×107 patches around boxes, in torch (MDNet's ``RegionExtractor`` without OpenCV).

A box is enlarged by ``padding/img_size`` of its size on every side, cropped and bilinearly
resized to ``img_size``. Pixels outside the frame read as grey 128 (zero after centring).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def image_tensor(image: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """``HxWx3 uint8`` → centred ``(3, H, W)`` float tensor (value − 128)."""
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return t.permute(2, 0, 1).float().sub_(128.0)


def context_grow(img_size: int, padding: int) -> float:
    """How much a box grows on each axis when ``padding`` patch pixels of context surround it."""
    return 1.0 + 2.0 * padding / img_size


def extract_patches(
    image: torch.Tensor, boxes: np.ndarray | torch.Tensor, img_size: int = 107, padding: int = 16
) -> torch.Tensor:
    """Patches ``(N, 3, img_size, img_size)`` from a centred ``(3, H, W)`` image and 0-based boxes."""
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64), device=image.device).to(image.dtype).reshape(-1, 4)
    n = boxes.shape[0]
    _, h, w = image.shape
    if n == 0:
        return image.new_zeros((0, 3, img_size, img_size))
    grow = context_grow(img_size, padding)
    cx = boxes[:, 0] + boxes[:, 2] / 2
    cy = boxes[:, 1] + boxes[:, 3] / 2
    half_w = boxes[:, 2] * grow / 2
    half_h = boxes[:, 3] * grow / 2
    steps = (torch.arange(img_size, device=image.device, dtype=image.dtype) + 0.5) / img_size * 2 - 1
    # continuous source coordinates, then grid_sample's [-1, 1] (align_corners=False) frame
    xs = (cx[:, None] + half_w[:, None] * steps[None, :]) * (2.0 / w) - 1
    ys = (cy[:, None] + half_h[:, None] * steps[None, :]) * (2.0 / h) - 1
    grid = torch.stack(
        [xs[:, None, :].expand(n, img_size, img_size), ys[:, :, None].expand(n, img_size, img_size)], dim=-1
    )
    # one tall grid keeps the image un-replicated: (1, n*S, S, 2) -> (1, 3, n*S, S)
    out = F.grid_sample(
        image[None],
        grid.reshape(1, n * img_size, img_size, 2),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    return out.view(3, n, img_size, img_size).permute(1, 0, 2, 3).contiguous()
