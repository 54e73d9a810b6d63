"""Bounding-box regression (R-CNN / MDNet): ridge regression from features to box deltas."""

from __future__ import annotations

import numpy as np
import torch


def box_deltas(samples: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R-CNN targets ``(dx/w, dy/h, log(w*/w), log(h*/h))`` from ``samples`` to ``target``."""
    s = np.asarray(samples, dtype=np.float64)
    t = np.broadcast_to(np.asarray(target, dtype=np.float64), s.shape)
    sc = s[:, :2] + s[:, 2:] / 2
    tc = t[:, :2] + t[:, 2:] / 2
    return np.concatenate([(tc - sc) / s[:, 2:], np.log(t[:, 2:] / s[:, 2:])], axis=1)


def apply_deltas(samples: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    s = np.asarray(samples, dtype=np.float64)
    c = s[:, :2] + s[:, 2:] / 2 + deltas[:, :2] * s[:, 2:]
    wh = s[:, 2:] * np.exp(deltas[:, 2:])
    return np.concatenate([c - wh / 2, wh], axis=1)


class BBoxRegressor:
    """Ridge regression with intercept, solved in its dual form (few samples, many features)."""

    def __init__(self, alpha: float = 1000.0) -> None:
        self.alpha = alpha
        self.weights: torch.Tensor | None = None
        self.x_mean: torch.Tensor | None = None
        self.y_mean: torch.Tensor | None = None

    def fit(self, features: torch.Tensor, samples: np.ndarray, target: np.ndarray) -> BBoxRegressor:
        x = features.detach().double().flatten(1)
        y = torch.from_numpy(box_deltas(samples, target)).to(x)
        self.x_mean, self.y_mean = x.mean(0), y.mean(0)
        xc, yc = x - self.x_mean, y - self.y_mean
        gram = xc @ xc.T + self.alpha * torch.eye(len(xc), dtype=xc.dtype, device=xc.device)
        self.weights = xc.T @ torch.linalg.solve(gram, yc)
        return self

    def predict(self, features: torch.Tensor, samples: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("BBoxRegressor.predict before fit")
        x = features.detach().double().flatten(1)
        d = ((x - self.x_mean) @ self.weights + self.y_mean).cpu().numpy()
        return apply_deltas(samples, d)
