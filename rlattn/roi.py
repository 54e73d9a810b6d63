"""RoIAlign in plain torch (no torchvision): pool a fixed-size grid of features inside boxes.

A feature map has cell ``j`` centred on input coordinate ``offset + stride·j`` (continuous
coordinates, pixel ``k`` covering ``[k, k+1)``; :mod:`rlattn.model.geometry` computes the offset,
which for "SAME"-padded networks depends on the input size). Each output bin averages
``sampling × sampling`` bilinear samples placed evenly inside it, as Mask R-CNN's
``aligned=True`` RoIAlign; samples falling off the map read zero. With ``sampling=1`` a bin reads
the single point at its centre. The operator is linear in the feature map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _sample_grid(
    boxes: torch.Tensor,
    map_hw: tuple[int, int],
    stride: float,
    offset: tuple[float, float],
    out: int,
    sampling: int,
) -> torch.Tensor:
    """``(N, out·sampling, out·sampling, 2)`` grid in ``grid_sample``'s ``[-1, 1]`` frame."""
    h, w = map_hw
    k = out * sampling
    frac = (torch.arange(k, device=boxes.device, dtype=boxes.dtype) + 0.5) / k
    x0, y0, x1, y1 = boxes.unbind(1)
    xs = x0[:, None] + (x1 - x0)[:, None] * frac[None, :]
    ys = y0[:, None] + (y1 - y0)[:, None] * frac[None, :]
    # input x ↦ cell coordinate u = (x − offset)/stride ↦ (u + 0.5)/w·2 − 1 (align_corners=False)
    gx = ((xs - offset[0]) / stride + 0.5) * (2.0 / w) - 1
    gy = ((ys - offset[1]) / stride + 0.5) * (2.0 / h) - 1
    n = boxes.shape[0]
    return torch.stack([gx[:, None, :].expand(n, k, k), gy[:, :, None].expand(n, k, k)], dim=-1)


def roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    out: int = 7,
    stride: float = 16.0,
    sampling: int = 2,
    offset: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Pooled features ``(N, C, out, out)`` of ``N`` boxes ``(x0, y0, x1, y1)`` in input pixels.

    ``features`` is either one map ``(C, H, W)`` that every box reads from, or ``(N, C, H, W)``
    with box ``i`` reading map ``i``. ``offset`` (x, y) is where cell 0 is centred; default
    ``stride/2``, i.e. cell ``j`` covering ``[stride·j, stride·(j+1))``.
    """
    if offset is None:
        offset = (stride / 2, stride / 2)
    boxes = boxes.to(features.dtype)
    n = boxes.shape[0]
    single = features.dim() == 3
    if not single and features.shape[0] != n:
        raise ValueError(f"{features.shape[0]} feature maps for {n} boxes")
    if n == 0:
        c = features.shape[-3]
        return features.new_zeros((0, c, out, out))
    grid = _sample_grid(boxes, tuple(features.shape[-2:]), stride, offset, out, sampling)
    k = out * sampling
    if single:
        # one tall grid keeps the map un-replicated: (1, N·k, k, 2) -> (1, C, N·k, k)
        pooled = F.grid_sample(
            features[None], grid.reshape(1, n * k, k, 2), mode="bilinear", padding_mode="zeros", align_corners=False
        )
        pooled = pooled.view(features.shape[0], n, k, k).transpose(0, 1)
    else:
        pooled = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if sampling > 1:
        pooled = F.avg_pool2d(pooled, sampling)
    return pooled
