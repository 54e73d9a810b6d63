"""Attention maps (Eq. 2) and the reciprocative regulariser (Eq. 3-5)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from rlattn.attention import (
    attention_maps,
    attention_pair,
    backbone_jvp,
    cross_entropy,
    first_layer_gradient,
    reciprocative_loss,
    regulariser,
)
from rlattn.model import DATNet, build_backbone


def _grads(net) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.classifier.parameters()]


def test_attention_map_equals_finite_differences(tiny_net):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64) * 40
    for cls in (0, 1):
        xx = x.clone().requires_grad_(True)
        (raw,) = torch.autograd.grad(tiny_net(xx)[:, cls].sum(), xx)
        fd = torch.zeros_like(x)
        h = 1e-5
        with torch.no_grad():
            for idx in np.ndindex(*x.shape):
                xp, xm = x.clone(), x.clone()
                xp[idx] += h
                xm[idx] -= h
                n = idx[0]
                fd[idx] = (tiny_net(xp)[n, cls] - tiny_net(xm)[n, cls]) / (2 * h)
        torch.testing.assert_close(raw, fd, rtol=1e-6, atol=1e-9)
        maps = attention_maps(tiny_net, x, cls)
        torch.testing.assert_close(maps, fd.clamp(min=0), rtol=1e-6, atol=1e-9)
        assert (maps > 0).any() and (maps == 0).any(), "a map keeps the positive part only"


@pytest.mark.parametrize(
    "backbone", ["efficientnet_lite0", "efficientnet_lite0_s8", "efficientnet_lite1", "efficientnet_lite2"]
)
def test_attention_map_of_real_backbone_matches_finite_differences(backbone):
    torch.manual_seed(2)
    net = DATNet(build_backbone(backbone)).double().eval()
    x = torch.randn(1, 3, 107, 107, dtype=torch.float64) * 40
    maps = attention_maps(net, x, 1, create_graph=False)
    xx = x.clone().requires_grad_(True)
    (raw,) = torch.autograd.grad(net(xx)[:, 1].sum(), xx)
    rng = np.random.default_rng(0)
    h = 1e-4
    with torch.no_grad():
        for _ in range(8):
            idx = (0, int(rng.integers(3)), int(rng.integers(20, 87)), int(rng.integers(20, 87)))
            xp, xm = x.clone(), x.clone()
            xp[idx] += h
            xm[idx] -= h
            fd = float((net(xp)[0, 1] - net(xm)[0, 1]) / (2 * h))
            assert raw[idx].item() == pytest.approx(fd, rel=1e-4, abs=1e-10)
            assert maps[idx].item() == pytest.approx(max(fd, 0.0), rel=1e-4, abs=1e-10)


def test_fast_jvp_of_efficientnet_equals_torch_func():
    torch.manual_seed(3)
    bb = build_backbone("efficientnet_lite0")
    bb = copy.deepcopy(bb).double()
    x = torch.randn(2, 3, 107, 107, dtype=torch.float64) * 40
    u = torch.randn(4, 3, 107, 107, dtype=torch.float64)  # two tangents per input
    y, ju = backbone_jvp(bb, x, u)
    for k in range(2):
        y_ref, ju_ref = torch.func.jvp(bb, (x,), (u[2 * k : 2 * k + 2],))
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(ju[2 * k : 2 * k + 2], ju_ref)


@pytest.mark.parametrize("backbone", ["tiny", "efficientnet_lite0"])
def test_fast_attention_pair_gives_the_double_backprop_gradients(backbone, tiny_net):
    torch.manual_seed(4)
    if backbone == "tiny":
        net, size = tiny_net, 9
    else:
        net, size = DATNet(build_backbone("efficientnet_lite0")).double().eval(), 107
    x = torch.randn(3, 3, size, size, dtype=torch.float64) * 40
    labels = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    net.zero_grad()
    scores, ap, an = attention_pair(net, x)
    reciprocative_loss(scores, ap, an, labels, lam=5.0).backward()
    fast = _grads(net)
    net.zero_grad()
    ap2, an2 = attention_maps(net, x, 1), attention_maps(net, x, 0)
    torch.testing.assert_close(ap, ap2)
    torch.testing.assert_close(an, an2)
    reciprocative_loss(net(x), ap2, an2, labels, lam=5.0).backward()
    for a, b in zip(fast, _grads(net)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_regulariser_changes_fc_gradients_and_lambda_zero_is_cross_entropy(tiny_net):
    torch.manual_seed(5)
    x = torch.randn(4, 3, 9, 9, dtype=torch.float64) * 40
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)

    def grads(lam):
        tiny_net.zero_grad()
        scores, ap, an = attention_pair(tiny_net, x)
        loss = reciprocative_loss(scores, ap, an, labels, lam=lam)
        loss.backward()
        return loss.detach(), _grads(tiny_net)

    loss0, g0 = grads(0.0)
    loss5, g5 = grads(5.0)
    # λ = 0 is the cross-entropy itself, bit for bit, on the same scores...
    scores = tiny_net(x)
    assert torch.equal(reciprocative_loss(scores, None, None, labels, lam=0.0), cross_entropy(scores, labels))
    # ...and plain CE training's gradients (the scores differ only by channels-last rounding)
    tiny_net.zero_grad()
    ce = cross_entropy(tiny_net(x), labels)
    ce.backward()
    g_ce = _grads(tiny_net)
    torch.testing.assert_close(loss0, ce.detach(), rtol=1e-12, atol=0)
    for a, b in zip(g0, g_ce):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)
    # every fc layer's weight gradient moves when the regulariser is on
    names = [n for n, _ in tiny_net.classifier.named_parameters()]
    for name, a, b in zip(names, g0, g5):
        if name.endswith("weight"):
            assert (a - b).abs().max() > 1e-6 * (a.abs().max() + 1e-12), name
    assert loss5 > loss0


def test_maps_without_create_graph_give_the_regulariser_no_gradient(tiny_net):
    """The authors' release called backward() without create_graph: R became a constant."""
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64) * 40
    ap = attention_maps(tiny_net, x, 1, create_graph=False)
    an = attention_maps(tiny_net, x, 0, create_graph=False)
    r = regulariser(ap, an, torch.tensor([1.0, 0.0], dtype=torch.float64)).sum()
    assert not r.requires_grad  # nothing can flow back to fc4-fc6
    ap = attention_maps(tiny_net, x, 1)
    an = attention_maps(tiny_net, x, 0)
    assert regulariser(ap, an, torch.tensor([1.0, 0.0], dtype=torch.float64)).sum().requires_grad


def test_regulariser_matches_equations_by_hand():
    a_p = torch.tensor([[1.0, 2.0, 3.0, 6.0]]).view(1, 1, 2, 2)
    a_n = torch.tensor([[0.0, 0.0, 4.0, 4.0]]).view(1, 1, 2, 2)
    mu_p, sd_p = 3.0, np.sqrt(((np.array([1, 2, 3, 6]) - 3.0) ** 2).mean())  # 3, sqrt(3.5)
    mu_n, sd_n = 2.0, 2.0
    eps = 1e-8
    r1 = regulariser(a_p, a_n, torch.tensor([1.0]), eps).item()
    r0 = regulariser(a_p, a_n, torch.tensor([0.0]), eps).item()
    assert r1 == pytest.approx(sd_p / mu_p + mu_n / sd_n, rel=1e-6)  # Eq. 3
    assert r0 == pytest.approx(mu_p / sd_p + sd_n / mu_n, rel=1e-6)  # Eq. 4
    scores = torch.tensor([[0.3, 1.2], [2.0, -1.0]])
    labels = torch.tensor([1.0, 0.0])
    maps_p, maps_n = a_p.repeat(2, 1, 1, 1), a_n.repeat(2, 1, 1, 1)
    ce = -torch.log_softmax(scores, 1)[[0, 1], [1, 0]].sum()
    total = reciprocative_loss(scores, maps_p, maps_n, labels, lam=5.0, eps=eps)
    assert total.item() == pytest.approx(ce.item() + 5.0 * (r1 + r0), rel=1e-6)  # Eq. 5


def test_regulariser_is_finite_on_empty_maps():
    zeros = torch.zeros(2, 3, 4, 4)
    r = regulariser(zeros, zeros, torch.tensor([1.0, 0.0]))
    assert torch.isfinite(r).all()


class _TwoLayer(torch.nn.Module):
    """A smooth two-layer backbone with the first_layer / rest split the map kinds need."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, stride=2)
        self.conv2 = torch.nn.Conv2d(4, 3, 3)

    def first_layer(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv1(x / 64.0))

    def rest(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv2(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.first_layer(x))


def _two_layer_net() -> DATNet:
    from rlattn.model import Classifier

    torch.manual_seed(5)
    bb = _TwoLayer().double().eval().requires_grad_(False)
    net = DATNet(bb, img_size=11).double()
    net.classifier = Classifier(net.feature_dim, hidden=16).double()
    for m in net.classifier.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0, 0.5)
    return net.eval()


def test_first_layer_energy_map_matches_finite_differences():
    """Σ_c (∂f/∂h_c)² with ∂f/∂h checked element by element against central differences in h."""
    net = _two_layer_net()
    x = torch.randn(2, 3, 11, 11, dtype=torch.float64) * 40
    grad = first_layer_gradient(net, x, 1, create_graph=False)
    h = net.backbone.first_layer(x)
    for idx in [(0, 0, 1, 2), (1, 3, 4, 4), (0, 2, 0, 3)]:
        hp, hm = h.clone(), h.clone()
        hp[idx] += 1e-6
        hm[idx] -= 1e-6
        with torch.no_grad():
            fd = net.classifier(net.backbone.rest(hp).flatten(1)) - net.classifier(net.backbone.rest(hm).flatten(1))
        assert grad[idx].item() == pytest.approx(float(fd[idx[0], 1]) / 2e-6, rel=1e-6, abs=1e-12)
    maps = attention_maps(net, x, 1, kind="first_layer_energy", create_graph=False)
    assert maps.shape == (2, 5, 5)
    torch.testing.assert_close(maps, grad.pow(2).sum(1))


@pytest.mark.parametrize("backbone", ["two_layer", "efficientnet_lite0"])
def test_first_layer_energy_pair_gives_the_double_backprop_gradients(backbone):
    """The fast path (linearised trunk stopped at the stem, or the generic VJP on ``rest``) gives
    the reference maps and, through Eq. 3-5, the reference fc-layer gradients."""
    torch.manual_seed(6)
    if backbone == "two_layer":
        net, size = _two_layer_net(), 11
    else:
        net, size = DATNet(build_backbone("efficientnet_lite0")).double().eval(), 107
    x = torch.randn(3, 3, size, size, dtype=torch.float64) * 40
    labels = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    net.zero_grad()
    scores, ap, an = attention_pair(net, x, "first_layer_energy")
    reciprocative_loss(scores, ap, an, labels, lam=5.0).backward()
    fast = _grads(net)
    assert any(float(g.abs().sum()) > 0 for g in fast)
    net.zero_grad()
    ap2 = attention_maps(net, x, 1, kind="first_layer_energy")
    an2 = attention_maps(net, x, 0, kind="first_layer_energy")
    torch.testing.assert_close(ap, ap2)
    torch.testing.assert_close(an, an2)
    reciprocative_loss(net(x), ap2, an2, labels, lam=5.0).backward()
    for a, b in zip(fast, _grads(net)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_map_kind_is_checked_hashed_when_set_and_ignored_without_a_regulariser():
    from rlattn.config import TrackerConfig
    from rlattn.errors import RlattnError
    from rlattn.experiments import TrackerSpec

    with pytest.raises(RlattnError, match="attention map"):
        TrackerConfig(attention_map="pixels")
    with pytest.raises(ValueError, match="map kind"):
        attention_pair(_two_layer_net(), torch.zeros(1, 3, 11, 11, dtype=torch.float64), "pixels")
    cfg = TrackerConfig(mode="fast")
    energy = cfg.replace(attention_map="first_layer_energy")
    assert TrackerSpec("dat", cfg).config_hash() == TrackerSpec("dat", cfg.replace(attention_map="input")).config_hash()
    assert TrackerSpec("dat", cfg).config_hash() != TrackerSpec("dat", energy).config_hash()
    assert TrackerSpec("mdnet", energy).config_hash() == TrackerSpec("mdnet", cfg).config_hash()


def test_vggm_first_layer_and_rest_compose_to_forward():
    from rlattn.model.vggm import VGGMFeatures

    torch.manual_seed(7)
    net = VGGMFeatures().eval()
    x = torch.randn(1, 3, 107, 107) * 40
    with torch.no_grad():
        torch.testing.assert_close(net.rest(net.first_layer(x)), net(x))
        assert net.first_layer(x).shape == (1, 96, 51, 51)
