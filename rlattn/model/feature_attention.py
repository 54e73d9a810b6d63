"""The "attentive features" baseline of the paper's Table 2: an attention module re-weighting the
backbone's feature cells before fc4, learned online with the plain cross-entropy.

The paper gives no architecture for it ("adding an attention module to generate feature weights",
§5.1, after the trackers it cites: ACFN, RASNet, DAVT, CSR-DCF). Ours is the common minimal one, a
spatial attention over the ``H×W`` cells of the ``C×H×W`` feature map:

    w = 2·sigmoid(conv1x1(ReLU(conv1x1(x))))        (one weight per cell, shared by all channels)
    x' = w ⊙ x

The last convolution starts at zero, so ``w ≡ 1`` and the module starts as the identity: at the
first step the tracker is exactly the λ = 0 baseline, and whatever the module does later it has
learned from the frames (like the cited trackers' residual attention ``(1 + m) ⊙ x``). It is
trained with fc4-fc6 at ``TrackerConfig.feature_attention_lr_mult`` (10) times fc4's learning rate.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureAttention(nn.Module):
    """Spatial feature weights ``w(x) ∈ (0, 2)^{H×W}`` applied to flattened ``C·H·W`` features."""

    def __init__(self, feature_shape: tuple[int, int, int], hidden: int = 16) -> None:
        super().__init__()
        channels = feature_shape[0]
        self.feature_shape = tuple(feature_shape)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.score = nn.Conv2d(hidden, 1, 1)
        nn.init.normal_(self.reduce.weight, 0.0, 0.01)
        nn.init.constant_(self.reduce.bias, 0.1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def weights(self, feats: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` cell weights for flattened ``(N, C·H·W)`` features."""
        x = feats.reshape(len(feats), *self.feature_shape)
        return 2 * torch.sigmoid(self.score(torch.relu(self.reduce(x))))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats.reshape(len(feats), *self.feature_shape)
        return (x * self.weights(feats)).flatten(1)
