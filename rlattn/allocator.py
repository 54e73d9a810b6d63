"""glibc's allocator, tuned for a process that makes and frees tensors of megabytes in a loop.

Out of the box glibc serves every allocation above its mmap threshold (128 KiB, rising only as
far as 32 MiB as big blocks are freed) with a fresh ``mmap`` and hands freed heap above the trim
threshold back to the kernel. A regulariser step makes and frees dozens of 2-18 MB tensors (the
trunk's 54×54 layers for 16 tangents), so each of them came back as zeroed pages, faulted in one
by one: on the Xeon (AMX) the trunk's forward on 8 patches took 29 ms with the defaults and 8 ms
with the thresholds below, and the whole 8-patch regulariser step 77 → 62 ms
(``benchmarks/update_cost.py``). Dask's nannies make it worse (``MALLOC_TRIM_THRESHOLD_=65536``
freezes the mmap threshold at 128 KiB; one Car4 run took 2.3x as long in a worker).

The threshold sits above exact mode's largest tensor: a 64-patch chunk's first expanded layer
(64 × 96 × 54 × 54 floats, 72 MB). At 64 MiB that tensor (and its batch norm and ReLU6 outputs)
still came from fresh mmaps every chunk: on the AVX2 EPYC, one thread, a patch's trunk pass took
5.1 ms at 64 MiB and 3.4 ms at 256 MiB, with bit-identical features and boxes
(``benchmarks/README.md``, ``tests/test_speed_paths.py``).
"""

from __future__ import annotations

import os

MMAP_THRESHOLD = 256 * 2**20  # tensors up to this size come from the heap, not from fresh mmaps
TRIM_THRESHOLD = 512 * 2**20  # freed heap kept for the next step instead of returned to the kernel

_STATE: str | None = None


def keep_large_allocations() -> str:
    """Raise glibc's mmap and trim thresholds once per process; returns what the process runs with.

    ``"glibc, thresholds raised"``; ``"glibc, MALLOC_MMAP_THRESHOLD_ set by the user"`` (an explicit
    choice is left alone); ``"not glibc"`` (other C libraries: nothing to tune). Numbers are not
    affected, only time and the memory the process keeps for reuse (at most ``TRIM_THRESHOLD``).
    """
    global _STATE
    if _STATE is not None:
        return _STATE
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        _STATE = "glibc, MALLOC_MMAP_THRESHOLD_ set by the user"
        return _STATE
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        _STATE = "not glibc"
        return _STATE
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = mallopt(m_mmap_threshold, MMAP_THRESHOLD) == 1 and mallopt(m_trim_threshold, TRIM_THRESHOLD) == 1
    _STATE = "glibc, thresholds raised" if ok else "glibc, mallopt refused"
    return _STATE
