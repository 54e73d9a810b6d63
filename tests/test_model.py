"""Backbones: the VGG-M .mat/.pth loaders and the EfficientNet-Lite0 ImageNet weights."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch

from rlattn.errors import RlattnError
from rlattn.model import build_backbone
from rlattn.model.efficientnet_lite import VARIANTS, EfficientNetLite
from rlattn.model.vggm import VGGMFeatures, load_vggm

SHAPES = {"conv1": (7, 7, 3, 96), "conv2": (5, 5, 96, 256), "conv3": (3, 3, 256, 512)}


def _write_matconvnet(path, rng):
    """A MatConvNet-shaped model: a 1xN cell of structs, conv layers with weights {filters, biases}."""
    layers = np.empty((1, 8), dtype=object)
    expected = {}
    names = ["conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "conv3", "relu3"]
    for i, name in enumerate(names):
        if name in SHAPES:
            f = rng.standard_normal(SHAPES[name]).astype(np.float32)
            b = rng.standard_normal((SHAPES[name][3], 1)).astype(np.float32)
            weights = np.empty((1, 2), dtype=object)
            weights[0, 0], weights[0, 1] = f, b
            layers[0, i] = {"name": name, "type": "conv", "weights": weights, "stride": np.array([[1, 1]])}
            expected[name] = (f, b)
        else:
            layers[0, i] = {"name": name, "type": "relu", "weights": np.empty((1, 0), dtype=object)}
    scipy.io.savemat(path, {"layers": layers})
    return expected


def test_mat_loader_reads_matconvnet_layout(tmp_path):
    path = tmp_path / "imagenet-vgg-m.mat"
    expected = _write_matconvnet(path, np.random.default_rng(0))
    net = load_vggm(path)
    for name, (f, b) in expected.items():
        conv = getattr(net, name)
        np.testing.assert_array_equal(conv.weight.detach().numpy(), f.transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(conv.bias.detach().numpy(), b.ravel())
    assert net(torch.zeros(1, 3, 107, 107)).shape == (1, 512, 3, 3)  # 4608 features for fc4


def test_pth_loader_round_trip(tmp_path):
    torch.manual_seed(0)
    src = VGGMFeatures()
    torch.save(src.state_dict(), tmp_path / "vggm.pth")
    net = load_vggm(tmp_path / "vggm.pth")
    assert torch.equal(net.conv2.weight, src.conv2.weight)


def test_missing_vggm_weights_say_where_to_get_them(tmp_path):
    for weights in (None, tmp_path / "nope.mat"):
        with pytest.raises(RlattnError, match="imagenet-vgg-m.mat"):
            build_backbone("vggm", weights)
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file")
    with pytest.raises(RlattnError, match="cannot read"):
        load_vggm(bad)


def _texture_separation(bb) -> float:
    """Between-texture distance over within-texture spread of normalised features."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:107, 0:107]
    stripes = 100 * np.sin(xx / 3.0)
    checks = 100 * (((yy // 9) + (xx // 9)) % 2 * 2 - 1)
    feats = []
    for tex in (stripes, checks):
        batch = np.stack([np.repeat((tex + rng.normal(0, 40, tex.shape))[None], 3, 0) for _ in range(8)])
        with torch.no_grad():
            f = bb(torch.tensor(batch, dtype=torch.float32)).flatten(1)
        feats.append(torch.nn.functional.normalize(f, dim=1))
    between = (feats[0].mean(0) - feats[1].mean(0)).norm()
    within = 0.5 * (feats[0].std(0).norm() + feats[1].std(0).norm())
    return float(between / within)


def test_pretrained_features_separate_textures_better_than_random():
    torch.manual_seed(0)
    pretrained = build_backbone("efficientnet_lite0")
    random = EfficientNetLite("lite0", cut_block=VARIANTS["lite0"].cut_block).eval()
    assert _texture_separation(pretrained) > 1.2 * _texture_separation(random)


def test_backbone_is_frozen_and_shapes():
    bb = build_backbone("efficientnet_lite0")
    assert not any(p.requires_grad for p in bb.parameters())
    assert not bb.training
    assert bb(torch.zeros(2, 3, 107, 107)).shape == (2, 112, 7, 7)


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(53, 54), (54, 55), (107, 107), (14, 13)])
def test_same_conv_without_padded_copy_is_tensorflow_same(kernel, stride, size):
    from rlattn.model.efficientnet_lite import SameConv2d

    torch.manual_seed(0)
    conv = SameConv2d(6, 6, kernel, stride=stride, groups=3, bias=False).double()
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    ph, pw = conv.same_padding(*size)
    # TensorFlow's "SAME": the odd row/column of padding goes to the bottom/right
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]), conv.weight, None, stride, 0, 1, 3
    )
    out = conv(x)
    assert out.shape == ref.shape == (2, 6, -(-size[0] // stride), -(-size[1] // stride))
    torch.testing.assert_close(out, ref)
