"""The network: a frozen backbone followed by the online-learned fc4-fc6 classifier."""

from __future__ import annotations

import math

import torch
from torch import nn

from rlattn.model.efficientnet_lite import efficientnet_lite_features
from rlattn.model.feature_attention import FeatureAttention
from rlattn.model.vggm import load_vggm

# backbone name -> (EfficientNet-Lite variant, output stride)
EFFICIENTNET_BACKBONES = {
    "efficientnet_lite0": ("lite0", 16),
    "efficientnet_lite0_s8": ("lite0", 8),
    "efficientnet_lite1": ("lite1", 16),
    "efficientnet_lite2": ("lite2", 16),
}


def build_backbone(name: str, weights: str | None = None) -> nn.Module:
    """A frozen, eval-mode feature extractor taking centred ``(N, 3, 107, 107)`` patches."""
    if name in EFFICIENTNET_BACKBONES:
        variant, stride = EFFICIENTNET_BACKBONES[name]
        net = efficientnet_lite_features(variant, weights, output_stride=stride)
    elif name == "vggm":
        net = load_vggm(weights)
    else:
        from rlattn.errors import RlattnError

        raise RlattnError(f"unknown backbone {name!r}")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class Classifier(nn.Module):
    """MDNet's fc4 (Linear+ReLU) → fc5 (Dropout, Linear, ReLU) → fc6 (Dropout, Linear → 2 scores).

    Output column 1 is the target score ``f_p``, column 0 the background score ``f_n``. With
    ``feature_attention`` (the ``C, H, W`` shape of the features) a :class:`FeatureAttention`
    re-weights the feature cells before fc4: the paper's "attentive features" baseline (Table 2).
    """

    def __init__(
        self, in_features: int, hidden: int = 512, feature_attention: tuple[int, int, int] | None = None
    ) -> None:
        super().__init__()
        self.fc4 = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.fc5 = nn.Sequential(nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU())
        self.fc6 = nn.Sequential(nn.Dropout(0.5), nn.Linear(hidden, 2))
        for m in self.modules():  # py-MDNet's initialisation
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 0.1)
        nn.init.zeros_(self.fc6[1].bias)
        # built last so that fc4-fc6 draw the same initial weights as the baseline's
        self.attention = FeatureAttention(feature_attention) if feature_attention else None

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = feats.flatten(1)
        if self.attention is not None:
            x = self.attention(x)
        return self.fc6(self.fc5(self.fc4(x)))


class DATNet(nn.Module):
    """Backbone + classifier; ``forward(patches)`` gives ``(N, 2)`` class scores."""

    def __init__(self, backbone: nn.Module, img_size: int = 107, feature_attention: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        first = next(backbone.parameters())
        device = first.device
        with torch.no_grad():
            shape = tuple(backbone(torch.zeros(1, 3, img_size, img_size, device=device, dtype=first.dtype)).shape[1:])
        self.feature_shape = shape
        self.feature_dim = math.prod(shape)
        if feature_attention and len(shape) != 3:
            from rlattn.errors import RlattnError

            raise RlattnError(f"feature attention needs C x H x W backbone features, got shape {shape}")
        attention_shape = shape if feature_attention else None
        self.classifier = Classifier(self.feature_dim, feature_attention=attention_shape).to(device)

    def train(self, mode: bool = True) -> DATNet:
        # The backbone stays in eval mode (frozen BN statistics) whatever the classifier does.
        super().train(mode)
        self.backbone.eval()
        return self

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        return self.backbone(patches).flatten(1)

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(patches))
