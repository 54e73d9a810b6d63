"""Which floating-point type a step may run in on this machine, and the fallback when it can't.

Only hard-negative mining may leave float32, and only when asked (``TrackerConfig.mining_precision``):
it ranks 1,024 cached negatives by score and keeps the top 32, and its one big product
(1,024 × 5,488 by 5,488 × 512) runs ~4x faster in bfloat16 on AMX (15.3 → 3.9 ms on the Xeon).
Near-ties at the 32nd place do swap: the same 32 in 67 % of steps, 98.8 % of the picks shared
(``benchmarks/mining_agreement.py``), so float32 stays the default. The regulariser stays in
float32: its maps moved by 6 % in bfloat16 (``benchmarks/README.md``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from rlattn.machine import cpu_flags

_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # without them bfloat16 products are emulated, slower than float32


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16)."""
    return bool(cpu_flags(cpuinfo) & set(_BF16_FLAGS))


def resolve(precision: str, device: str) -> tuple[torch.dtype, str]:
    """The dtype a step asked to run in ``precision`` gets on ``device``, and a line saying so.

    bfloat16 on a CPU without bfloat16 instructions (or a GPU before Ampere) falls back to float32:
    emulated bfloat16 would be slower than the float32 it replaces.
    """
    if precision == "float32":
        return torch.float32, "float32"
    if device.startswith("cuda"):
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        where = "this GPU"
    else:
        ok = cpu_has_bf16()
        where = "this CPU (no AMX / AVX-512 BF16)"
    if ok:
        return torch.bfloat16, "bfloat16"
    return torch.float32, f"float32 (bfloat16 asked for; {where} has no fast bfloat16)"
