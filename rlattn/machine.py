"""Which machine a number was measured on: CPU model, widest vector extension, core count.

Our CI and development machines are all "2 cores", but not the same cores (a Xeon with AMX one
day, a 2 GHz first-generation EPYC with AVX2 the next: 3x apart on the same tracker), so every
speed figure and result file names the CPU it came from.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# the widest extension decides the float32/bfloat16 matrix throughput; the first one present wins
_VECTOR_FLAGS = (("AMX", "amx_tile"), ("AVX-512", "avx512f"), ("AVX2", "avx2"), ("NEON", "asimd"))


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's ``key: value`` lines (empty where there is no /proc/cpuinfo)."""
    info: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return info
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def cpu_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first processor's feature flags (x86 ``flags``, Arm ``Features``); empty where unknown."""
    return _flags(_cpuinfo(path))


def _flags(info: dict[str, str]) -> set[str]:
    return set(info.get("flags", info.get("Features", "")).split())


def cpu_description(path: Path = Path("/proc/cpuinfo")) -> str:
    """E.g. ``"AMD EPYC (family 23, model 1), AVX2, 2 CPUs"``."""
    info = _cpuinfo(path)
    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info:
        name += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    flags = _flags(info)
    vector = next((label for label, flag in _VECTOR_FLAGS if flag in flags), None)
    return ", ".join(p for p in (name, vector, f"{os.cpu_count()} CPUs") if p)


def source_commit() -> str | None:
    """The git commit of the ``rlattn`` source this process runs (``+dirty`` when the package's files
    differ from it); None outside a git checkout. Result files record it so that every number can
    be traced to the code that made it."""
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
