"""Where a backbone's output cells sit in its input: the geometry RoIAlign needs to be exact.

A chain of convolutions/poolings maps output cell ``j`` to the input position
``offset + stride·j`` (continuous coordinates, pixel ``k`` covering ``[k, k+1)``). With
TensorFlow's "SAME" padding the extra pad row goes to the bottom/right and its size depends on
the input's parity, so the offset depends on the input size: a 107×107 patch and a 209×194
region put their cells at different sub-stride phases. Pooling with the wrong phase costs up to
half a stride (8 px) of misalignment, enough to change the features of a box noticeably.
"""

from __future__ import annotations

import math
from typing import Literal

Layer = tuple[int, int, "int | Literal['same']"]  # kernel, stride, left padding (or "same")


def cell_geometry(layers: list[Layer], size: int) -> tuple[float, float, int]:
    """``(offset, stride, cells)`` along one axis of ``size`` input pixels."""
    offset, stride, n = 0.5, 1.0, size
    for kernel, step, pad in layers:
        if pad == "same":
            total = max((math.ceil(n / step) - 1) * step + kernel - n, 0)
            left = total // 2
            n = math.ceil(n / step)
        else:
            left = pad
            n = (n + 2 * pad - kernel) // step + 1
        offset += stride * ((kernel - 1) / 2 - left)
        stride *= step
    return offset, stride, n


def backbone_geometry(backbone, size: int) -> tuple[float, float, int]:
    """:func:`cell_geometry` of a backbone that lists its ``layer_geometry()``."""
    layers = getattr(backbone, "layer_geometry", None)
    if layers is None:
        raise TypeError(f"{type(backbone).__name__} does not describe its layer geometry (layer_geometry())")
    return cell_geometry(layers(), size)
