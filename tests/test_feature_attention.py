"""The "attentive features" baseline (Table 2): a feature-attention module trained with plain CE."""

from __future__ import annotations

import numpy as np
import torch
from test_tracker import TINY

from rlattn import DATTracker, TrackerConfig
from rlattn.attention import attention_pair, cross_entropy, regulariser
from rlattn.experiments import TrackerSpec
from rlattn.model import Classifier
from rlattn.training import make_optimizer

SHAPE = (6, 3, 3)
DIM = 6 * 3 * 3


def test_module_starts_as_the_identity_and_the_baseline():
    torch.manual_seed(0)
    plain = Classifier(DIM, hidden=16)
    torch.manual_seed(0)
    attentive = Classifier(DIM, hidden=16, feature_attention=SHAPE)
    feats = torch.randn(5, DIM)
    w = attentive.attention.weights(feats)
    assert w.shape == (5, 1, 3, 3)
    torch.testing.assert_close(w, torch.ones_like(w))
    # same fc4-fc6 draws as the baseline, so before any training both score alike
    torch.testing.assert_close(plain.eval()(feats), attentive.eval()(feats))


def test_cross_entropy_trains_the_module_into_cell_weights():
    torch.manual_seed(1)
    net = torch.nn.Module()
    net.classifier = Classifier(DIM, hidden=16, feature_attention=SHAPE)
    opt = make_optimizer(net, TrackerConfig(), lr=1e-3)
    att = {id(p) for p in net.classifier.attention.parameters()}
    (group,) = [g for g in opt.param_groups if {id(p) for p in g["params"]} == att]
    assert group["lr"] == 1e-3 * TrackerConfig().feature_attention_lr_mult, "the module learns at its own rate"
    # positives carry their signal in the centre cell, negatives in a corner
    pos = torch.zeros(16, *SHAPE)
    pos[:, :, 1, 1] = 1.0 + torch.rand(16, 6)
    neg = torch.zeros(16, *SHAPE)
    neg[:, :, 0, 0] = 1.0 + torch.rand(16, 6)
    feats = torch.cat([pos, neg]).flatten(1) + 0.1 * torch.randn(32, DIM)
    labels = torch.cat([torch.ones(16), torch.zeros(16)])
    for it in range(30):
        loss = cross_entropy(net.classifier.train()(feats), labels)
        opt.zero_grad()
        loss.backward()
        if it == 0:  # the zero-initialised last layer gets a gradient at once
            assert net.classifier.attention.score.weight.grad.abs().sum() > 0
        opt.step()
    w = net.classifier.attention.weights(feats).detach()
    assert not torch.allclose(w, torch.ones_like(w)), "the weights moved away from the identity"
    assert w.std() > 1e-4, "the weights differ between cells/samples"


def test_attention_maps_see_the_module(tiny_net):
    # Attentive features + λ > 0 is allowed: the maps go through the module and R reaches its weights.
    feats_shape = tuple(tiny_net.backbone(torch.zeros(1, 3, 9, 9, dtype=torch.float64)).shape[1:])
    torch.manual_seed(3)
    tiny_net.classifier = Classifier(tiny_net.feature_dim, hidden=16, feature_attention=feats_shape).double()
    for p in tiny_net.classifier.parameters():
        torch.nn.init.normal_(p, 0, 0.5)
    x = torch.randn(4, 3, 9, 9, dtype=torch.float64) * 40
    scores, mp, mn = attention_pair(tiny_net, x)
    regulariser(mp, mn, torch.tensor([1.0, 1.0, 0.0, 0.0])).sum().backward()
    assert tiny_net.classifier.attention.reduce.weight.grad.abs().sum() > 0


def test_spec_config_hash_and_tracker_name():
    spec = TrackerSpec("attfeat", TrackerConfig(lam=5.0))
    cfg = spec.effective_config()
    assert cfg.lam == 0 and cfg.feature_attention
    assert spec.label == "attfeat_exact_lambda0"
    assert spec.config_hash() != TrackerSpec("mdnet").config_hash()
    # results made before the option existed keep their hash: the default is left out of it
    assert "feature_attention" not in TrackerSpec("mdnet").describe()["config"]
    assert spec.describe()["config"]["feature_attention"] is True
    assert spec.build().name == "MDNet+AF"


def test_tracker_learns_feature_weights_on_the_first_frame():
    from rlattn.datasets import make_synthetic_sequence

    seq = make_synthetic_sequence(5, seed=2)
    t = DATTracker(TrackerConfig(mode="fast", lam=0.0, feature_attention=True, **TINY))
    t.init(seq.image(0), seq.boxes[0])
    assert t.net.classifier.attention.score.weight.abs().sum() > 0, "init training updated the module"
    boxes = np.array([t.update(seq.image(i)) for i in range(1, 5)])
    assert np.isfinite(boxes).all() and (boxes[:, 2:] > 0).all()


def test_diagnostics_record_the_feature_weights():
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.tracking import track_with_diagnostics

    seq = make_synthetic_sequence(3, seed=4)
    _, _, records = track_with_diagnostics(
        DATTracker(TrackerConfig(mode="fast", lam=0.0, feature_attention=True, **TINY)), seq, progress=False
    )
    w = records[2].feature_weights
    assert w.shape == (7, 7) and ((w > 0) & (w < 2)).all()
    _, _, plain = track_with_diagnostics(DATTracker(TrackerConfig(mode="fast", **TINY)), seq, progress=False)
    assert plain[2].feature_weights is None


def test_equal_computations_share_a_name_and_a_folder(tmp_path):
    from rlattn.experiments import results_folder

    cfg = TrackerConfig(mode="fast")
    dat0, mdnet = TrackerSpec("dat", cfg.replace(lam=0.0)), TrackerSpec("mdnet", cfg)
    assert dat0.name == "mdnet" and dat0.config_hash(50) == mdnet.config_hash(50)
    assert results_folder(tmp_path, dat0, 50) == results_folder(tmp_path, mdnet, 50)
    af = TrackerSpec("dat", cfg.replace(lam=0.0, feature_attention=True))
    assert af.name == "attfeat" and af.config_hash() == TrackerSpec("attfeat", cfg).config_hash()
    both = TrackerSpec("dat", cfg.replace(feature_attention=True))
    assert both.name == "dat" and both.label == "dat_af_fast_lambda5"
    assert both.build().name == "DAT+AF"
