"""Does bfloat16 hard-negative mining pick the same negatives as float32?

    python benchmarks/mining_agreement.py --sequences ../shared/data/otb/Car4 ../shared/data/otb/Deer --frames 100

Tracks each sequence with float32 mining (the trajectory is float32's) and, at every SGD step,
also ranks the same 1,024 candidates in bfloat16: prints the share of steps whose 32 hard
negatives are the very same set, and the mean share of the 32 that agree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import rlattn.training as training
from rlattn.config import TrackerConfig
from rlattn.datasets import open_sequence
from rlattn.machine import cpu_description
from rlattn.tracker import DATTracker
from rlattn.tracking import track_sequence


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sequences", nargs="+", type=Path, required=True, help="OTB sequence folders")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--lambda", dest="lam", type=float, default=5.0)
    p.add_argument("--mode", default="fast", choices=["fast", "exact"])
    a = p.parse_args(argv)
    print(f"machine: {cpu_description()}; λ = {a.lam:g}, {a.mode} mode, first {a.frames} frames")
    float32_mining = training.mine_hard
    steps: list[tuple[bool, float]] = []

    def both(classifier, feats, k, dtype=torch.float32):
        ref = float32_mining(classifier, feats, k, torch.float32)
        low = float32_mining(classifier, feats, k, torch.bfloat16)
        shared = len(set(ref.tolist()) & set(low.tolist())) / len(ref)
        steps.append((shared == 1.0, shared))
        return ref

    training.mine_hard = both
    total: list[tuple[bool, float]] = []
    for folder in a.sequences:
        steps.clear()
        seq = open_sequence(folder).truncated(a.frames)
        track_sequence(DATTracker(TrackerConfig(lam=a.lam, mode=a.mode)), seq, progress=False)
        same = sum(s for s, _ in steps) / len(steps)
        overlap = sum(o for _, o in steps) / len(steps)
        print(f"{seq.name}: {len(steps)} steps, same 32 negatives in {100 * same:.1f} %, {100 * overlap:.2f} % shared")
        total.extend(steps)
    same = sum(s for s, _ in total) / len(total)
    overlap = sum(o for _, o in total) / len(total)
    print(f"all: {len(total)} steps, same set in {100 * same:.1f} %, {100 * overlap:.2f} % of negatives shared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
