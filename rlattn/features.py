"""Classifier inputs for sample boxes: per patch (``mode="exact"``) or shared per frame (``"fast"``).

* :class:`PatchFeatures` — MDNet's way: crop every box (plus context padding) to a 107×107
  patch and run the frozen backbone on each. One backbone pass per sample.
* :class:`RegionFeatures` — RT-MDNet's way: resample the frame once so that the *target's*
  padded box becomes 107×107, run the backbone once on the region covering all the boxes, and
  read each box's features with :func:`rlattn.roi.roi_align` at exactly the positions where its
  own patch's cells would be centred (one bilinear sample per cell, see
  :mod:`rlattn.model.geometry`). One backbone pass per frame.

For the target-sized box both read the same 7×7 cell positions; what differs is what the cells
see beyond the box: grey padding in a patch, the real surroundings in a region (the stride-16
trunk's receptive field is wider than a patch).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rlattn.model.geometry import backbone_geometry
from rlattn.patches import context_grow, extract_patches
from rlattn.roi import roi_align


def padded_corners(boxes: np.ndarray, img_size: int, padding: int) -> np.ndarray:
    """``(x0, y0, x1, y1)`` of 0-based ``x, y, w, h`` boxes grown by the patch padding."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    grow = context_grow(img_size, padding)
    c = b[:, :2] + b[:, 2:] / 2
    half = b[:, 2:] * grow / 2
    return np.concatenate([c - half, c + half], axis=1)


class PatchFeatures:
    """Exact path: one backbone pass per 107×107 patch (batched)."""

    mode = "exact"

    def __init__(self, backbone: nn.Module, img_size: int = 107, padding: int = 16, batch: int = 256) -> None:
        self.backbone, self.img_size, self.padding, self.batch = backbone, img_size, padding, batch

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, boxes: np.ndarray, target: np.ndarray | None = None) -> torch.Tensor:
        out = []
        for i in range(0, len(boxes), self.batch):
            p = extract_patches(image, boxes[i : i + self.batch], self.img_size, self.padding)
            out.append(self.backbone(p.contiguous(memory_format=torch.channels_last)).flatten(1))
        if not out:
            return torch.zeros((0, 0), device=image.device)
        return torch.cat(out)


class RegionFeatures:
    """Fast path: one backbone pass over the region that holds every box, then RoIAlign.

    The frame is resampled so that the target's padded box spans ``img_size`` pixels (separately
    in x and y, as MDNet's patches are). Regions above ``max_pixels`` (a small target and
    whole-image negatives at initialisation) are capped to a window around the target; boxes
    that do not fit fall back to their own patches, so every box gets a feature.
    """

    mode = "fast"

    def __init__(
        self,
        backbone: nn.Module,
        img_size: int = 107,
        padding: int = 16,
        max_pixels: int = 1600 * 1600,
        batch: int = 256,
    ) -> None:
        self.backbone, self.img_size, self.padding = backbone, img_size, padding
        self.max_pixels = max_pixels
        self.patches = PatchFeatures(backbone, img_size, padding, batch)
        # a patch's cells, as fractions of its side: where each box is read in the region
        offset, stride, cells = backbone_geometry(backbone, img_size)
        self.cells, self.stride = cells, stride
        self.roi_span = ((offset - stride / 2) / img_size, (offset + stride * (cells - 0.5)) / img_size)
        self.last_region: dict | None = None  # geometry of the last region, for plots and tests

    def scale(self, target: np.ndarray) -> tuple[float, float]:
        grow = context_grow(self.img_size, self.padding)
        return self.img_size / (max(target[2], 1.0) * grow), self.img_size / (max(target[3], 1.0) * grow)

    @torch.no_grad()
    def __call__(self, image: torch.Tensor, boxes: np.ndarray, target: np.ndarray | None = None) -> torch.Tensor:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(boxes) == 0:
            return torch.zeros((0, 0), device=image.device)
        if target is None:
            raise ValueError("RegionFeatures needs the target box to choose the resampling scale")
        target = np.asarray(target, dtype=np.float64)
        sx, sy = self.scale(target)
        corners = padded_corners(boxes, self.img_size, self.padding)
        x0, y0 = corners[:, :2].min(0)
        x1, y1 = corners[:, 2:].max(0)
        inside = np.ones(len(boxes), bool)
        if (x1 - x0) * sx * (y1 - y0) * sy > self.max_pixels:
            half = math.sqrt(self.max_pixels) / 2
            cx, cy = target[:2] + target[2:] / 2
            inside = (
                (corners[:, 0] >= cx - half / sx)
                & (corners[:, 2] <= cx + half / sx)
                & (corners[:, 1] >= cy - half / sy)
                & (corners[:, 3] <= cy + half / sy)
            )
            if inside.any():
                x0, y0 = corners[inside, :2].min(0)
                x1, y1 = corners[inside, 2:].max(0)
        feats: torch.Tensor | None = None
        if inside.any():
            pooled = self._pool_region(image, corners[inside], (x0, y0, x1, y1), sx, sy)
            feats = pooled.new_empty((len(boxes), pooled.shape[1]))
            feats[torch.as_tensor(np.nonzero(inside)[0], device=image.device)] = pooled
        if not inside.all():
            rest = np.nonzero(~inside)[0]
            patch_feats = self.patches(image, boxes[rest])
            if feats is None:
                feats = patch_feats.new_empty((len(boxes), patch_feats.shape[1]))
            feats[torch.as_tensor(rest, device=image.device)] = patch_feats
        return feats

    def _pool_region(self, image: torch.Tensor, corners: np.ndarray, box: tuple, sx: float, sy: float) -> torch.Tensor:
        x0, y0 = box[0], box[1]
        region = self._region(image, box, sx, sy)
        fmap = self.backbone(region[None].contiguous(memory_format=torch.channels_last))[0]
        ox, stride, _ = backbone_geometry(self.backbone, region.shape[2])
        oy, _, _ = backbone_geometry(self.backbone, region.shape[1])
        # region pixels of each box's padded corners, then the span its patch's cells cover
        c = (corners - np.array([x0, y0, x0, y0])) * np.array([sx, sy, sx, sy])
        lo, hi = self.roi_span
        wh = c[:, 2:] - c[:, :2]
        rois = np.concatenate([c[:, :2] + lo * wh, c[:, :2] + hi * wh], axis=1)
        self.last_region = {"box": tuple(float(v) for v in box), "scale": (sx, sy), "shape": tuple(region.shape[1:])}
        rois_t = torch.as_tensor(rois, device=image.device)
        return roi_align(fmap, rois_t, self.cells, stride, sampling=1, offset=(ox, oy)).flatten(1)

    @staticmethod
    def _region(image: torch.Tensor, box: tuple[float, ...], sx: float, sy: float) -> torch.Tensor:
        """``image``'s ``(x0, y0, x1, y1)`` resampled by ``(sx, sy)``; grey (0) outside the frame."""
        x0, y0, x1, y1 = box
        _, h, w = image.shape
        wr = max(int(math.ceil((x1 - x0) * sx)), 1)
        hr = max(int(math.ceil((y1 - y0) * sy)), 1)
        dev = image.device
        xs = (x0 + (torch.arange(wr, device=dev, dtype=torch.float64) + 0.5) / sx) * (2.0 / w) - 1
        ys = (y0 + (torch.arange(hr, device=dev, dtype=torch.float64) + 0.5) / sy) * (2.0 / h) - 1
        grid = torch.stack([xs[None, :].expand(hr, wr), ys[:, None].expand(hr, wr)], dim=-1).float()
        out = F.grid_sample(image[None], grid[None], mode="bilinear", padding_mode="zeros", align_corners=False)
        return out[0]


def feature_extractor(
    mode: str, backbone: nn.Module, img_size: int, padding: int, batch: int
) -> PatchFeatures | RegionFeatures:
    if mode == "exact":
        # the results do not depend on the chunk size; a 2-core CPU runs 64-patch chunks 2x faster per patch than 256
        return PatchFeatures(backbone, img_size, padding, min(batch, 64))
    if mode == "fast":
        return RegionFeatures(backbone, img_size, padding, batch=batch)
    from rlattn.errors import RlattnError

    raise RlattnError(f"unknown mode {mode!r}; use exact or fast")
