"""The speed levers keep the numbers: in-place ReLU6 masks, glibc's thresholds, bfloat16 mining."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from rlattn.allocator import keep_large_allocations
from rlattn.config import TrackerConfig
from rlattn.errors import RlattnError
from rlattn.experiments import TrackerSpec
from rlattn.model import build_backbone
from rlattn.precision import cpu_has_bf16, resolve
from rlattn.training import mine_hard


@pytest.fixture(scope="module")
def trunk64():
    return copy.deepcopy(build_backbone("efficientnet_lite0")).double()


def test_linearised_passes_leave_their_inputs_alone(trunk64):
    """The masks are applied in place: only to tensors the passes made themselves."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 107, 107, dtype=torch.float64) * 40
    out, tape = trunk64.linearize(x)
    g = torch.randn(4, *out.shape[1:], dtype=torch.float64)
    u = torch.randn(4, 3, 107, 107, dtype=torch.float64)
    g0, u0 = g.clone(), u.clone()
    v1, v2 = trunk64.vjp_lin(tape, g), trunk64.vjp_lin(tape, g)
    j1, j2 = trunk64.jvp_lin(tape, u), trunk64.jvp_lin(tape, u)
    assert torch.equal(g, g0) and torch.equal(u, u0)
    assert torch.equal(v1, v2) and torch.equal(j1, j2)  # nor the tape
    # the two are each other's transpose: <J u, g> = <u, Jᵀ g>
    assert float((j1 * g).sum()) == pytest.approx(float((u * v1).sum()), rel=1e-10)


def test_allocator_is_tuned_once_and_respects_the_users_choice():
    state = keep_large_allocations()
    assert state == keep_large_allocations()
    assert state.startswith(("glibc", "not glibc"))
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    code = "from rlattn.allocator import keep_large_allocations as k; print(k())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "glibc, MALLOC_MMAP_THRESHOLD_ set by the user"


@pytest.mark.parametrize(
    "flags, expected",
    [("fpu avx2 avx512f amx_bf16 amx_tile", True), ("fpu avx2 avx512f avx512_bf16", True), ("fpu avx2", False)],
)
def test_bf16_hardware_is_read_from_cpuinfo(tmp_path, flags, expected):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\n")
    assert cpu_has_bf16(info) is expected
    assert cpu_has_bf16(tmp_path / "missing") is False


def test_bfloat16_mining_falls_back_to_float32_without_the_instructions(monkeypatch):
    assert resolve("float32", "cpu") == (torch.float32, "float32")
    monkeypatch.setattr("rlattn.precision.cpu_has_bf16", lambda: False)
    dtype, path = resolve("bfloat16", "cpu")
    assert dtype == torch.float32 and path.startswith("float32 (bfloat16 asked for")
    monkeypatch.setattr("rlattn.precision.cpu_has_bf16", lambda: True)
    assert resolve("bfloat16", "cpu") == (torch.bfloat16, "bfloat16")


def test_mining_precision_is_checked_and_hashed_only_when_set():
    with pytest.raises(RlattnError, match="mining precision"):
        TrackerConfig(mining_precision="float16")
    cfg = TrackerConfig(mode="fast")

    def digest(**changes) -> str:
        return TrackerSpec("dat", cfg.replace(**changes)).config_hash()

    assert digest() == digest(mining_precision="float32")  # results made before the field keep their folder
    assert digest() != digest(mining_precision="bfloat16")


def test_mining_picks_the_top_scored_negatives_in_either_precision():
    torch.manual_seed(1)
    clf = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    feats = torch.randn(1024, 64)
    with torch.no_grad():
        target = clf(feats)[:, 1]
    expected = target.topk(32).indices.numpy()
    assert np.array_equal(mine_hard(clf, feats, 32), expected)  # float32: exactly the old rule
    low = mine_hard(clf, feats, 32, torch.bfloat16)
    assert len(set(low.tolist()) & set(expected.tolist())) >= 30  # bfloat16 may swap near-ties only
    assert len(mine_hard(clf, feats[:10], 32)) == 10


def test_tracker_result_names_its_compute_paths():
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence

    seq = make_synthetic_sequence(n_frames=3, name="demo")
    _, info = track_sequence(DATTracker(TrackerConfig.quick(lam=0.0, iters_init=2)), seq, progress=False)
    assert info["compute_paths"] == {"mining": "float32"}


_TRACK_CODE = """
import numpy as np
from rlattn.allocator import keep_large_allocations
from rlattn.config import TrackerConfig
from rlattn.datasets import make_synthetic_sequence
from rlattn.tracker import DATTracker
import torch
torch.set_num_threads(1)
keep_large_allocations()
seq = make_synthetic_sequence(n_frames=60, name="demo").truncated(4)
t = DATTracker(TrackerConfig.quick(lam=5.0, mode="exact", seed=0, iters_init=3, iters_update=2, long_interval=2))
t.init(seq.image(0), seq.boxes[0])
boxes = [t.update(seq.image(i)) for i in range(1, len(seq))]
print(np.asarray(boxes, dtype=np.float64).tobytes().hex())
"""


def test_the_allocator_thresholds_leave_exact_mode_boxes_bit_identical():
    """Where tensors come from (fresh mmaps for everything above 128 KiB, or the raised heap)
    changes time only: an exact λ = 5 run gives the very same boxes either way."""

    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def boxes(extra: dict) -> str:
        env = {**base, **extra}
        out = subprocess.run([sys.executable, "-c", _TRACK_CODE], env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    assert boxes({}) == boxes({"MALLOC_MMAP_THRESHOLD_": "131072"})
