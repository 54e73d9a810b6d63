"""Would bfloat16 make the tracker faster, and at what error? Times the two hot spots of fast mode.

* a backbone pass on a search region (what ``candidates`` and ``collect`` pay once per frame);
* one regulariser step: attention maps of ``--patches`` patches (both classes) and the backward
  pass through them (what every λ > 0 training iteration pays, ~0.1 s on a 2-core CPU);

in float32 and, where the device has it, in bfloat16 (weights and inputs cast), and prints the
relative error of bfloat16's features against float32's. The tracker itself runs in float32;
this script is the measurement that decides whether a bf16 path is worth building.

    python benchmarks/precision_probe.py                  # CPU (AMX/AVX512-BF16 if present)
    python benchmarks/precision_probe.py --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

from rlattn.attention import attention_pair
from rlattn.model import DATNet, build_backbone


def _timed(fn, repeats: int, cuda: bool) -> float:
    fn()  # warm-up: allocator, oneDNN/cuDNN kernel choice
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--region", type=int, default=300, help="search-region side in pixels")
    ap.add_argument("--patches", type=int, default=8, help="regularised samples per step (reg_samples)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    region = torch.randn(1, 3, args.region, args.region, device=args.device) * 50
    patches = torch.randn(args.patches, 3, 107, 107, device=args.device) * 50
    results = {dtype: _probe(dtype, region, patches, args) for dtype in (torch.float32, torch.bfloat16)}
    ref, low = results[torch.float32], results[torch.bfloat16]
    print(f"bfloat16 features vs float32: relative error {float((ref - low).norm() / ref.norm()):.3f}")


def _probe(dtype: torch.dtype, region: torch.Tensor, patches: torch.Tensor, args) -> torch.Tensor:
    """Prints both timings in ``dtype``; returns the region's features (as float32)."""
    cuda = args.device.startswith("cuda")
    backbone = build_backbone("efficientnet_lite0").to(args.device, dtype).to(memory_format=torch.channels_last)
    net = DATNet(backbone).eval()
    net.classifier.to(torch.float32)
    x_region = region.to(dtype).contiguous(memory_format=torch.channels_last)
    x_patches = patches.to(dtype)

    def forward():
        with torch.no_grad():
            return backbone(x_region)

    def reg_step():
        _, maps_p, maps_n = attention_pair(_Float32Head(net), x_patches)
        (maps_p.float().std() + maps_n.float().mean()).backward()

    name = "bfloat16" if dtype == torch.bfloat16 else "float32"
    try:
        step = _timed(reg_step, args.repeats, cuda)
    except RuntimeError as exc:  # a kernel without bf16 support on this device
        step = float("nan")
        print(f"{name}: regulariser step failed: {str(exc).splitlines()[0]}")
    print(
        f"{name:>9}: region {args.region}x{args.region} forward {1e3 * _timed(forward, args.repeats, cuda):7.1f} ms"
        f" | attention maps of {args.patches} patches + backward {1e3 * step:7.1f} ms"
    )
    return forward().float()


class _Float32Head(torch.nn.Module):
    """The network with its classifier kept in float32 whatever the backbone's dtype."""

    def __init__(self, net: DATNet) -> None:
        super().__init__()
        self.backbone, self.inner = net.backbone, net.classifier

    def classifier(self, feats: torch.Tensor) -> torch.Tensor:
        return self.inner(feats.float())


if __name__ == "__main__":
    main()
