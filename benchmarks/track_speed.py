"""Tracking speed: FPS, first-frame seconds, time per phase and peak memory, per mode.

    python benchmarks/track_speed.py                                  # synthetic demo, fast vs exact
    python benchmarks/track_speed.py --sequence ../shared/data/otb/Car4 --frames 200 --modes fast
    python benchmarks/track_speed.py --device cuda --modes fast exact --json out/speed.json
    python benchmarks/track_speed.py --sequence ../shared/data/otb/Car4 --frames 50 --modes fast \
        --lambda 0 5 --backbone efficientnet_lite0 efficientnet_lite0_s8 efficientnet_lite1 efficientnet_lite2

Each (mode) runs in a fresh process so that peak RSS is its own. FPS counts frames after the
first over the time spent in ``update`` (as the OTB toolkit does); ``init`` is the first frame.
Phases (seconds over the whole run, from ``DATTracker.timings``):

* ``features``   - first-frame sample features;        ``train_init`` - first-frame training
* ``candidates`` - candidate features + scoring;       ``collect`` - features of new training samples
* ``update``     - online fc4-fc6 updates;             ``attention`` - maps, R and their backward
  (part of ``train_init`` and ``update``)
* ``bbreg``      - box regression (fit + predict);     ``sampling``, ``model`` - the rest
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from rlattn.config import BACKBONES, PRECISIONS
from rlattn.machine import cpu_description

PHASES = ("features", "train_init", "candidates", "collect", "update", "attention", "bbreg", "sampling", "model")


def _run(args: dict) -> dict:
    import torch

    from rlattn.allocator import keep_large_allocations
    from rlattn.boxes import iou
    from rlattn.config import TrackerConfig
    from rlattn.datasets import make_synthetic_sequence, open_sequence
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence

    if args["threads"]:
        torch.set_num_threads(args["threads"])
    if args["sequence"]:
        seq = open_sequence(Path(args["sequence"]))
    else:
        # the demo's motion spans its whole length: make the 60-frame demo and cut it, not a faster 20-frame one
        seq = make_synthetic_sequence(n_frames=max(args["frames"] or 60, 60), name="demo")
    seq = seq.truncated(args["frames"])
    base = TrackerConfig.quick() if args["quick"] else TrackerConfig()
    changes = {"lam": args["lam"], "mode": args["mode"], "device": args["device"], "backbone": args["backbone"]}
    changes["mining_precision"] = args["mining_precision"]
    if args["reg_samples"]:
        changes["reg_samples"] = args["reg_samples"]
    cfg = base.replace(**changes)
    tracker = DATTracker(cfg)
    t0 = time.perf_counter()
    boxes, info = track_sequence(tracker, seq, progress=args["progress"])
    wall = time.perf_counter() - t0
    out = {
        "mode": cfg.mode,
        "sequence": seq.name,
        "frames": len(seq),
        "lam": cfg.lam,
        "reg_samples": cfg.reg_samples if cfg.mode == "fast" else None,
        "backbone": cfg.backbone,
        "device": cfg.device,
        "quick": args["quick"],
        "threads": torch.get_num_threads(),
        "allocator": keep_large_allocations(),
        "mining": info.get("compute_paths", {}).get("mining"),
        "fps": info["fps"],
        "init_seconds": info["init_seconds"],
        "wall_seconds": wall,
        "phase_seconds": info.get("phase_seconds", {}),
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    if cfg.device.startswith("cuda"):
        out["peak_cuda_gb"] = torch.cuda.max_memory_allocated() / 2**30
        out["gpu"] = torch.cuda.get_device_name()
    if seq.boxes is not None:
        from rlattn.evaluation.otb import evaluate_sequence

        out["mean_iou"] = float(iou(boxes, seq.boxes).mean())
        out["auc"] = float(evaluate_sequence(boxes, seq.boxes)["auc"])
    return out


def _row(r: dict) -> str:
    ph = r["phase_seconds"]
    phases = "  ".join(f"{k} {ph[k]:.1f}" for k in PHASES if k in ph)
    acc = f"  mean IoU {r['mean_iou']:.3f}  AUC {r['auc']:.3f}" if "mean_iou" in r else ""
    mem = f"  peak RSS {r['peak_rss_gb']:.2f} GB" + (
        f"  CUDA {r['peak_cuda_gb']:.2f} GB" if "peak_cuda_gb" in r else ""
    )
    head = f"{r['mode']:>5}: {r['fps']:.2f} FPS  init {r['init_seconds']:.1f} s  wall {r['wall_seconds']:.0f} s"
    return f"{head}{acc}{mem}\n       phases (s): {phases}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sequence", help="an OTB/VOT sequence folder (default: the synthetic demo sequence)")
    p.add_argument("--frames", type=int, help="first N frames only (demo default 60)")
    p.add_argument("--modes", nargs="+", default=["fast", "exact"], choices=["fast", "exact"])
    p.add_argument("--lambda", dest="lam", type=float, nargs="+", default=[5.0], help="one or more λ")
    p.add_argument("--reg-samples", type=int, help="fast mode: samples per mini-batch carrying R (default 8)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backbone", nargs="+", default=["efficientnet_lite0"], choices=BACKBONES,
                   help="one or more backbones, each run in every mode")
    p.add_argument("--mining-precision", default="float32", choices=PRECISIONS)
    p.add_argument("--quick", action="store_true", help="TrackerConfig.quick() (fewer samples and iterations)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    print(f"machine: {cpu_description()}, python {sys.version.split()[0]}")
    results = []
    ctx = mp.get_context("spawn")  # a fresh process per mode: its own peak RSS, no shared caches
    for backbone, lam, mode in [(b, lam, m) for b in a.backbone for lam in a.lam for m in a.modes]:
        job = {
            "sequence": a.sequence,
            "frames": a.frames,
            "mode": mode,
            "lam": lam,
            "reg_samples": a.reg_samples,
            "device": a.device,
            "backbone": backbone,
            "quick": a.quick,
            "mining_precision": a.mining_precision,
            "threads": a.threads,
            "progress": not a.no_progress,
        }
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            r = pool.submit(_run, job).result()
        r["machine"] = cpu_description()
        results.append(r)
        if len(results) == 1 or (len(a.backbone) > 1 or len(a.lam) > 1) and mode == a.modes[0]:
            cfg = "quick" if a.quick else "paper"
            print(
                f"{r['sequence']} ({r['frames']} frames), λ={r['lam']:g}, {r['backbone']}, {r['device']}, "
                f"{r['threads']} threads, {cfg} config; mining: {r['mining']}; allocator: {r['allocator']}"
            )
        print(_row(r), flush=True)
    by_mode = {r["mode"]: r for r in results}
    if len(a.backbone) > 1 or len(a.lam) > 1:
        for r in results:
            auc = f"  AUC {r['auc']:.3f}" if "auc" in r else ""
            head = f"{r['backbone']:>22} λ={r['lam']:<3g} {r['mode']:>5}"
            print(f"{head}: {r['fps']:5.2f} FPS  init {r['init_seconds']:5.1f} s{auc}")
    elif "fast" in by_mode and "exact" in by_mode:
        f, e = by_mode["fast"], by_mode["exact"]
        line = f"fast / exact: {f['fps'] / e['fps']:.1f}x FPS, init {e['init_seconds'] / f['init_seconds']:.1f}x faster"
        if "auc" in f:
            line += f", AUC {f['auc']:.3f} vs {e['auc']:.3f}"
        print(line)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=1, default=lambda o: np.asarray(o).tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
