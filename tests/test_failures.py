"""Loss diagnostics on planted trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from rlattn.evaluation.failures import diagnose_loss, lost_frame, motion, reach_needed


def test_lost_frame_ignores_blips_and_finds_the_lasting_loss():
    iou = np.full(60, 0.8)
    iou[10:13] = 0.0  # a three-frame blip: recovered
    iou[40:] = 0.02
    assert lost_frame(iou) == 40
    assert lost_frame(np.full(30, 0.7)) is None
    assert lost_frame(np.r_[np.full(25, 0.6), [0.05, 0.05]]) == 25  # lost in the last frames
    nan_gap = np.r_[np.full(20, 0.7), [np.nan] * 5, np.full(10, 0.0)]
    assert lost_frame(nan_gap) == 25  # frames without ground truth are neither


def test_reach_is_in_mean_sides_along_the_worse_axis():
    prev = np.array([[100.0, 100, 40, 20]])  # mean side 30, centre (120, 110)
    assert reach_needed(prev, np.array([[118.0, 100, 40, 20]]))[0] == pytest.approx(18 / 30)
    assert reach_needed(prev, np.array([[100.0, 70, 40, 20]]))[0] == pytest.approx(30 / 30)
    gt = np.array([[0.0, 0, 10, 10], [5, 0, 10, 10], [5, 20, 10, 10]])
    np.testing.assert_allclose(motion(gt), [0.0, 0.5, 2.0])


def test_a_jump_beyond_the_search_window_is_named_at_the_loss():
    n = 50
    gt = np.tile([100.0, 100, 20, 20], (n, 1))
    gt[30:, 0] += 40  # the target jumps 2 mean sides at frame 30 and stays there
    ours = gt.copy()
    ours[30:] = gt[29]  # we stay behind
    authors = gt.copy()
    loss = diagnose_loss("Jumper", ours, gt, seed=3, reference=authors)
    assert loss.frame == 30 and loss.seed == 3 and loss.frames == n
    assert loss.reach == pytest.approx(2.0) and loss.motion == pytest.approx(2.0)
    assert loss.peak_motion == pytest.approx(2.0)
    assert loss.size == pytest.approx(20.0) and loss.size_change == pytest.approx(1.0)
    assert loss.aspect_change == pytest.approx(1.0) and loss.iou_before == pytest.approx(1.0)  # a jump
    assert loss.reference_iou == pytest.approx(1.0)
    kept = diagnose_loss("Jumper", gt, gt)
    assert kept.frame is None and kept.reach is None
    assert set(kept.to_dict()) >= {"target", "frame", "reach", "reference_iou"}


def test_diagnose_seeds_reads_result_folders_and_cuts_to_the_first_frames(tmp_path):
    from rlattn.evaluation.annotations import load_annotations
    from rlattn.evaluation.failures import diagnose_seeds

    n = 40
    gt = np.tile([50.0, 50, 20, 20], (n, 1))
    gt[25:, 0] += 30
    anno = tmp_path / "anno"
    anno.mkdir()
    np.savetxt(anno / "Alpha.txt", gt, fmt="%g", delimiter=",")
    seeds = {}
    for seed, behind_from in ((0, 25), (1, n)):  # seed 0 stays behind at the jump, seed 1 follows
        boxes = gt.copy()
        boxes[behind_from:] = gt[24]
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        np.savetxt(folder / "Alpha.txt", boxes, fmt="%g", delimiter=",")
        seeds[seed] = folder
    annotations = load_annotations(anno)
    losses = {x.seed: x for x in diagnose_seeds(seeds, annotations, ["alpha"], reference=anno)}
    assert losses[0].frame == 25 and losses[0].reference_iou == pytest.approx(1.0)
    assert losses[1].frame is None
    early = diagnose_seeds(seeds, annotations, ["alpha"], frames=20)
    assert all(x.frame is None and x.frames == 20 for x in early)
