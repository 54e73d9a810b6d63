"""The floor under DAT's frame rate on this machine: what the online schedule costs at the least.

    python benchmarks/update_cost.py                     # paper schedule, CPU, fast and exact
    python benchmarks/update_cost.py --reg-samples 4 --iters-update 10
    python benchmarks/update_cost.py --device cuda

MDNet's schedule (which DAT keeps) makes every frame score its candidates and, averaged over the
sequence, ``iters_update / long_interval`` SGD iterations (15 every 10 frames), each of which
mines hard negatives among ``batch_neg_cand`` (1,024) cached candidates, takes a cross-entropy
step on 32 + 32 samples and, with λ > 0, the regulariser: attention maps of both classes and the
backward pass through them for ``reg_samples`` patches (fast mode) or the whole mini-batch
(exact mode). This script times those steps with the tracker's own code on random inputs of the
real sizes, and adds them up per frame. Everything it leaves out (backbone passes on the search
and training regions, box regression, sampling, failure-driven updates) only adds to the time,
so ``1000 / floor_ms`` is an upper bound on the FPS any run of ``track_speed.py`` can show
with the same schedule, kernels and machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rlattn.allocator import keep_large_allocations
from rlattn.attention import attention_pair, cross_entropy, regulariser
from rlattn.config import PRECISIONS, TrackerConfig
from rlattn.machine import cpu_description
from rlattn.model import DATNet
from rlattn.precision import resolve
from rlattn.tracker import shared_backbone
from rlattn.training import make_optimizer, mine_hard


def _ms(fn, repeats: int, cuda: bool) -> float:
    """Median milliseconds of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def measure(cfg: TrackerConfig, repeats: int = 5) -> dict:
    """Milliseconds of each unavoidable step of the schedule in ``cfg`` (see the module doc)."""
    dev, cuda = cfg.device, cfg.device.startswith("cuda")
    keep_large_allocations()  # as the tracker does
    torch.manual_seed(cfg.seed)
    backbone = shared_backbone(cfg.backbone, cfg.weights, dev)
    net = DATNet(backbone, cfg.img_size).to(dev).eval()
    clf = net.classifier
    d = net.feature_dim
    candidates = torch.randn(cfg.batch_neg_cand, d, device=dev)
    scored = torch.randn(cfg.n_samples, d, device=dev)
    batch = torch.randn(cfg.batch_pos + cfg.batch_neg, d, device=dev)
    labels = torch.cat([torch.ones(cfg.batch_pos), torch.zeros(cfg.batch_neg)]).to(dev)
    optimizer = make_optimizer(net, cfg, cfg.lr_update)

    def score(feats: torch.Tensor):
        with torch.no_grad():
            return clf(feats)

    mining_dtype, mining_path = resolve(cfg.mining_precision, dev)

    def ce_step():
        net.train()
        loss = cross_entropy(clf(batch), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def reg_step(patches: torch.Tensor, patch_labels: torch.Tensor):
        net.train()
        _, maps_p, maps_n = attention_pair(net, patches)
        regulariser(maps_p, maps_n, patch_labels, cfg.eps).sum().backward()

    def patches_of(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(n, 3, cfg.img_size, cfg.img_size, device=dev) * 50  # centred pixels
        return x, (torch.arange(n, device=dev) < n // 2).float()

    mining_flop = 2 * cfg.batch_neg_cand * sum(m.in_features * m.out_features for m in _linears(clf))
    out = {
        "mining_ms": _ms(lambda: mine_hard(clf, candidates, cfg.batch_neg, mining_dtype), repeats, cuda),
        "mining_path": mining_path,
        "scoring_ms": _ms(lambda: score(scored), repeats, cuda),
        "ce_step_ms": _ms(ce_step, repeats, cuda),
    }
    out["mining_gflops"] = mining_flop / out["mining_ms"] / 1e6
    if cfg.lam > 0:
        fast = patches_of(cfg.reg_samples)
        out["reg_fast_ms"] = _ms(lambda: reg_step(*fast), repeats, cuda)
        exact = patches_of(cfg.batch_pos + cfg.batch_neg)
        out["reg_exact_ms"] = _ms(lambda: reg_step(*exact), max(1, repeats // 2), cuda)
    return out


def _linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def floors(cfg: TrackerConfig, ms: dict) -> dict[str, dict]:
    """Per mode: the per-frame floor's parts and sum (milliseconds, averaged over the schedule),
    the FPS it allows, and the first frame's floor (seconds)."""
    rate = cfg.iters_update / cfg.long_interval
    out = {}
    for mode in ("fast", "exact"):
        step = {"mining": ms["mining_ms"]}
        if cfg.lam == 0 or mode == "fast":  # exact mode's cross-entropy rides on the pass that makes the maps
            step["cross_entropy"] = ms["ce_step_ms"]
        if cfg.lam > 0:
            step["regulariser"] = ms[f"reg_{mode}_ms"]
        parts = {"scoring": ms["scoring_ms"], **{k: rate * v for k, v in step.items()}}
        frame = sum(parts.values())
        init = cfg.iters_init * sum(step.values()) / 1e3
        out[mode] = {"parts_ms": parts, "frame_ms": frame, "fps_ceiling": 1e3 / frame, "init_s": init}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--lambda", dest="lam", type=float, default=5.0)
    p.add_argument("--reg-samples", type=int, default=TrackerConfig.reg_samples)
    p.add_argument("--iters-update", type=int, default=TrackerConfig.iters_update, help="H2 (paper: 15)")
    p.add_argument("--long-interval", type=int, default=TrackerConfig.long_interval, help="T (paper: 10)")
    p.add_argument("--mining-precision", default="float32", choices=PRECISIONS)
    p.add_argument("--quick", action="store_true", help="TrackerConfig.quick()'s sizes")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the timings and floors here")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    base = TrackerConfig.quick() if a.quick else TrackerConfig()
    schedule = {"reg_samples": a.reg_samples, "iters_update": a.iters_update, "long_interval": a.long_interval}
    cfg = base.replace(device=a.device, lam=a.lam, mining_precision=a.mining_precision, **schedule)
    ms = measure(cfg, a.repeats)
    machine = cpu_description() + (f", {torch.cuda.get_device_name()}" if cfg.device.startswith("cuda") else "")
    print(
        f"machine: {machine}; {torch.get_num_threads()} torch threads, device {cfg.device}; "
        f"allocator: {keep_large_allocations()}"
    )
    print(
        f"schedule: {cfg.iters_update} iterations every {cfg.long_interval} frames, {cfg.n_samples} candidates, "
        f"mining among {cfg.batch_neg_cand}, λ = {cfg.lam:g}, R on {cfg.reg_samples} patches (fast) / "
        f"{cfg.batch_pos + cfg.batch_neg} (exact), {cfg.iters_init} first-frame iterations"
    )
    print(
        f"per iteration: mining {ms['mining_ms']:.1f} ms ({ms['mining_gflops']:.0f} GFLOP/s, {ms['mining_path']}), "
        f"cross-entropy step {ms['ce_step_ms']:.1f} ms"
        + (f", regulariser {ms['reg_fast_ms']:.1f} ms (fast) / {ms['reg_exact_ms']:.0f} ms (exact)" if cfg.lam else "")
    )
    print(f"per frame: candidate scoring {ms['scoring_ms']:.1f} ms")
    floor = floors(cfg, ms)
    for mode, f in floor.items():
        print(
            f"{mode:>5}: floor {f['frame_ms']:.0f} ms per frame -> at most {f['fps_ceiling']:.2f} FPS; "
            f"first frame at least {f['init_s']:.1f} s"
        )
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": machine, "threads": torch.get_num_threads(), "config": cfg.to_dict()}
        a.json.write_text(json.dumps({**record, "ms": ms, "floor": floor}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
