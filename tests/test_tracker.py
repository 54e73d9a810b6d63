"""The tracker end to end: the synthetic demo through the CLI, real OTB frames, odd inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED, needs_shared, write_otb_folder

from rlattn import DATTracker, Tracker, TrackerConfig
from rlattn.cli import main

TINY = dict(
    n_pos_init=40,
    n_neg_init=120,
    iters_init=3,
    n_bbreg=40,
    n_samples=32,
    batch_neg_cand=64,
    n_pos_update=10,
    n_neg_update=20,
    iters_update=2,
    batch_pos=8,
    batch_neg=8,
)


def test_demo_through_cli_follows_the_target(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["track", "--demo", "--out", str(out), "--no-progress"]) == 0
    info = json.loads((out / "demo.json").read_text())
    boxes = np.loadtxt(out / "demo.txt", delimiter=",")
    assert boxes.shape == (60, 4) and (out / "demo.png").stat().st_size > 10_000
    assert info["frames"] == 60 and info["fps"] > 0 and info["init_seconds"] > 0
    assert info["config"]["lam"] == 5.0
    assert info["mean_iou"] >= 0.7, info["mean_iou"]
    assert "mean IoU" in capsys.readouterr().out


@needs_shared
def test_car4_first_100_frames_end_to_end(tmp_path):
    out = tmp_path / "car4"
    argv = [
        "track",
        "--sequence",
        str(SHARED / "otb" / "Car4"),
        "--frames",
        "100",
        "--quick",
        "--out",
        str(out),
        "--no-progress",
        "--save-video",
    ]
    assert main(argv) == 0
    boxes = np.loadtxt(out / "Car4.txt", delimiter=",")
    info = json.loads((out / "Car4.json").read_text())
    assert boxes.shape == (100, 4) and np.isfinite(boxes).all()
    assert info["sequence"] == "Car4" and info["frames"] == 100 and set(info["config"]) >= {"lam", "backbone"}
    assert info["mean_iou"] > 0.5  # Car4's opening is easy; a broken tracker drifts off
    assert (out / "Car4.mp4").stat().st_size > 0


def test_grayscale_odd_sized_frames_and_box_leaving_the_image(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for i in range(4):
        f = rng.integers(0, 80, (97, 123), dtype=np.uint8)
        f[30:60, 90 + 5 * i : 120 + 5 * i] = 220  # a bright target moving out of the frame
        frames.append(f)
    seq = write_otb_folder(tmp_path, frames, [[91, 31, 30, 30]] * 4)
    out = tmp_path / "o"
    argv = ["track", "--sequence", str(seq), "--out", str(out), "--no-progress", "--save-frames", "--quick"]
    import rlattn.config as config

    quick = config.TrackerConfig.quick
    try:  # shrink the quick preset further: this test checks robustness, not accuracy
        config.TrackerConfig.quick = classmethod(lambda cls, **kw: cls(**{**TINY, **kw}))
        assert main(argv) == 0
    finally:
        config.TrackerConfig.quick = quick
    boxes = np.loadtxt(out / "Seq.txt", delimiter=",")
    assert boxes.shape == (4, 4) and np.isfinite(boxes).all()
    assert len(list((out / "Seq_frames").glob("*.jpg"))) == 4


def test_same_seed_same_boxes_and_protocol():
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.tracker import shared_backbone

    seq = make_synthetic_sequence(4)
    runs = []
    shared_backbone.cache_clear()  # the first tracker builds the backbone, the second reuses it
    for _ in range(2):
        t = DATTracker(TrackerConfig(**TINY))
        assert isinstance(t, Tracker)
        t.init(seq.image(0), seq.boxes[0])
        runs.append([t.update(seq.image(i)) for i in range(1, 4)])
    np.testing.assert_array_equal(np.array(runs[0]), np.array(runs[1]))
    assert DATTracker(TrackerConfig(lam=0)).name == "MDNet"


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    from rlattn.errors import RlattnError

    with pytest.raises(RlattnError, match="no CUDA"):
        DATTracker(TrackerConfig(device="cuda"))


def test_diagnostics_record_candidates_scores_and_attention():
    from rlattn.datasets import make_synthetic_sequence
    from rlattn.tracking import track_with_diagnostics
    from rlattn.visualize import confidence_map

    seq = make_synthetic_sequence(4, seed=3)
    tracker = DATTracker(TrackerConfig(mode="fast", **TINY))
    boxes, info, records = track_with_diagnostics(tracker, seq, progress=False)
    assert len(records) == 4 and records[0].candidates is None
    rec = records[2]
    assert rec.candidates.shape == (32, 4) and rec.scores.shape == (32,)
    assert rec.patch.shape == (107, 107, 3) and rec.attention.shape == (107, 107)
    assert (rec.attention >= 0).all() and rec.attention.max() > 0
    # the candidates are 1-based like the reported box, and the best ones sit on it
    best = rec.candidates[np.argsort(rec.scores)[-5:]].mean(axis=0)
    assert np.abs(best[:2] - boxes[2][:2]).max() < boxes[2][2:].max()
    conf = confidence_map(rec.candidates, rec.scores, seq.image(2).shape[:2])
    assert conf.shape == seq.image(2).shape[:2] and 0 <= conf.min() and conf.max() <= 1
    cy, cx = np.unravel_index(conf.argmax(), conf.shape)
    top = rec.candidates[rec.scores.argmax()]
    assert abs(cx - (top[0] - 1 + top[2] / 2)) <= 2 and abs(cy - (top[1] - 1 + top[3] / 2)) <= 2


def test_confidence_map_is_the_largest_bump():
    from rlattn.visualize import confidence_map

    cands = np.array([[11, 11, 20, 20], [61, 31, 20, 20]], float)  # centres (20, 20) and (70, 40)
    conf = confidence_map(cands, np.array([3.0, -3.0]), (80, 100), step=1)
    assert conf[20, 20] == pytest.approx(1 / (1 + np.exp(-3)), rel=1e-3)
    assert conf[40, 70] == pytest.approx(1 / (1 + np.exp(3)), rel=1e-3)
    assert conf[79, 0] < 1e-3
