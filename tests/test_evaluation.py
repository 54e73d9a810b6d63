"""The OTB OPE evaluator: hand-made cases, the toolkit's rules, and published result files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, needs_shared

from rlattn.cli import main
from rlattn.evaluation.annotations import load_annotations, sequence_set
from rlattn.evaluation.benchmark import evaluate_folder
from rlattn.evaluation.otb import (
    aggregate,
    center_error,
    evaluate_sequence,
    overlap_continuous,
    overlap_pixels,
    sequence_errors,
)


def test_pixel_iou_and_centres_follow_the_toolkit():
    a = np.array([[1, 1, 10, 10]])
    b = np.array([[6, 1, 10, 10]])  # columns 6..15 vs 1..10: 5 shared columns
    assert overlap_pixels(a, b)[0] == pytest.approx(50 / 150)
    assert overlap_pixels(a, np.array([[11, 1, 10, 10]]))[0] == 0.0  # touching, no shared pixel
    assert overlap_pixels(np.array([[1, 1, 2, 2]]), np.array([[2, 2, 2, 2]]))[0] == pytest.approx(1 / 7)
    assert overlap_continuous(np.array([[1, 1, 2, 2]]), np.array([[2, 2, 2, 2]]))[0] == pytest.approx(1 / 7)
    # a 1-pixel-wide box: pixel IoU counts it, continuous too; both agree on identity
    assert overlap_pixels(np.array([[5, 5, 1, 1]]), np.array([[5, 5, 1, 1]]))[0] == 1.0
    assert center_error(np.array([[1, 1, 3, 3]]), np.array([[4, 5, 3, 3]]))[0] == pytest.approx(5.0)
    assert center_error(np.array([[1, 1, 4, 2]]), np.array([[1, 1, 2, 4]]))[0] == pytest.approx(np.sqrt(2))


def test_first_frame_invalid_predictions_and_invalid_ground_truth():
    gt = np.array([[10, 10, 20, 20], [12, 10, 20, 20], [14, 10, 20, 20], [0, 10, 20, 20], [16, 10, 20, 20]], float)
    pred = np.array([[99, 99, 5, 5], [12, 10, 20, 20], [np.nan, 1, 1, 1], [15, 12, 20, 20], [16, 10, 0, 20]], float)
    overlaps, errors = sequence_errors(pred, gt)
    assert overlaps[0] == 1.0 and errors[0] == 0.0  # frame 1 := ground truth
    assert overlaps[2] == pytest.approx(overlap_pixels(gt[1:2], gt[2:3])[0])  # NaN := previous box
    assert overlaps[3] == -1 and errors[3] == -1  # ground truth with a value <= 0
    assert overlaps[4] == pytest.approx(overlap_pixels(pred[3:4], gt[4:5])[0])  # w <= 0 := the previous box
    assert 0 < overlaps[4] < 1
    r = evaluate_sequence(pred, gt)
    assert r["success_curve"][0] == pytest.approx(4 / 5)  # IoU -1 is never a success, others > 0
    assert r["precision_curve"][0] == pytest.approx(3 / 5)  # errors 0, 0 and the -1 frame count at 0 px
    assert r["cle"] == pytest.approx(np.mean(errors[errors >= 0]))
    assert r["auc"] == pytest.approx(r["success_curve"].mean())
    assert r["dp20"] == r["precision_curve"][20]


def test_got10k_protocol_differs_as_documented():
    gt = np.array([[10, 10, 20, 20], [0, 10, 20, 20]], float)
    pred = np.array([[10, 10, 20, 20], [1, 10, 20, 20]], float)
    o_otb, _ = sequence_errors(pred, gt, "otb")
    o_g, _ = sequence_errors(pred, gt, "got10k")
    assert o_otb[1] == -1 and o_g[1] == pytest.approx(19 / 21)


def test_aggregate_weighs_sequences_equally():
    gt = np.tile([[10, 10, 20, 20]], (4, 1)).astype(float)
    perfect = evaluate_sequence(gt, gt)
    lost = evaluate_sequence(np.vstack([gt[:1], np.tile([[200, 200, 20, 20]], (9, 1))]), np.tile(gt[:1], (10, 1)))
    agg = aggregate({"a": perfect, "b": lost})
    assert agg["auc"] == pytest.approx((perfect["auc"] + lost["auc"]) / 2)


def _write_results(folder, rows_by_seq):
    folder.mkdir(parents=True)
    for name, rows in rows_by_seq.items():
        (folder / f"{name}.txt").write_text("\n".join(",".join(str(v) for v in r) for r in rows) + "\n")


def test_bad_results_folder_is_reported(tmp_path):
    anno_dir = tmp_path / "anno"
    anno_dir.mkdir()
    gt = [[10, 10, 20, 20]] * 10
    for name in ("aa", "bb", "cc", "dd"):
        (anno_dir / f"{name}.txt").write_text("\n".join(",".join(map(str, r)) for r in gt))
    res = tmp_path / "Mine"
    _write_results(res, {"aa": gt, "bb": gt[:3], "cc": [[10, 10, 20, 20]] + [[np.nan] * 4] * 9})
    report = evaluate_folder(res, load_annotations(anno_dir), ["aa", "bb", "cc", "dd"])
    text = " | ".join(report.problems)
    assert "dd: no result file" in text
    assert "bb.txt: 3 boxes for 10 annotated frames (left out)" in text
    assert "cc.txt: every box is NaN" in text
    assert list(report.per_sequence) == ["aa"]


@needs_shared
def test_published_otb100_results_reproduce_published_scores():
    meta = SHARED / "otb_meta"
    annotations = load_annotations(meta / "anno_tb100")
    keys = sequence_set("otb2015", [meta])
    assert len(keys) == 100
    auc = {}
    for tracker in ("MDnet", "SRDCF", "MEEM", "DSST", "GaussHog", "Struck"):
        report = evaluate_folder(SHARED / "otb_results" / tracker, annotations, keys)
        assert report.overall["sequences"] == 100
        auc[tracker] = report.overall["auc"]
    assert 0.66 <= auc["MDnet"] <= 0.68  # MDNet's published OTB-100 AUC
    assert auc["SRDCF"] == pytest.approx(0.598, abs=0.003)  # SRDCF paper, OTB-2015
    assert auc["GaussHog"] == pytest.approx(0.477, abs=0.003)  # KCF on OTB-100 (OTB TPAMI)
    # published ranking: MDNet > SRDCF > MEEM > KCF ≈ DSST > Struck
    assert auc["MDnet"] > auc["SRDCF"] > auc["MEEM"] > max(auc["GaussHog"], auc["DSST"])
    assert min(auc["GaussHog"], auc["DSST"]) > auc["Struck"]
    report13 = evaluate_folder(SHARED / "otb_results" / "Struck", annotations, sequence_set("otb2013", [meta]))
    assert report13.overall["auc"] == pytest.approx(0.474, abs=0.003)  # Struck in the CVPR'13 benchmark


needs_release = pytest.mark.skipif(not (SHARED / "dat_release").is_dir(), reason="../shared/data/dat_release absent")


@needs_release
def test_dat_authors_boxes_give_the_papers_table3_numbers():
    """The DAT authors' released boxes, scored by the toolkit's rules, are the paper's Table 3."""
    meta = SHARED / "otb_meta"
    annotations = load_annotations(meta / "anno_tb100")
    r13 = evaluate_folder(SHARED / "dat_release" / "OTB2013", annotations, sequence_set("otb2013", [meta]))
    assert r13.overall["sequences"] == 51 and not r13.problems
    assert round(r13.overall["auc"], 3) == 0.704 and round(r13.overall["dp20"], 3) == 0.944
    assert r13.overall["os50"] == pytest.approx(0.913, abs=0.001)  # Table 3 OS@0.5
    assert r13.overall["cle"] == pytest.approx(7.85, abs=0.05)  # Table 3 CLE: 7.85
    # David's file claims annoBegin = 1 with startFrame = 300: the frame table's start wins
    assert r13.per_sequence["david"]["auc"] > 0.6
    r15 = evaluate_folder(SHARED / "dat_release" / "OTB100", annotations, sequence_set("otb2015", [meta]))
    # the release has no Human4-2 (99 of 100); Table 3: CLE 12.42, OS@0.5 0.848
    assert r15.overall["sequences"] == 99
    assert round(r15.overall["auc"], 3) == 0.668
    assert r15.overall["os50"] == pytest.approx(0.848, abs=0.002)
    assert r15.overall["cle"] == pytest.approx(12.42, abs=0.2)


def test_result_offset_prefers_the_frame_table():
    from rlattn.evaluation.results_io import TrackerResult

    res = TrackerResult(np.zeros((5, 4)), None, start_frame=300, anno_begin=1)
    assert res.offset(300) == 0  # annotation rows start at frame 300 (OTB David)
    assert res.offset() == 299  # no table: the file's own annoBegin
    assert TrackerResult(np.zeros((5, 4))).offset(300) == 0  # .txt results start at the annotation


@needs_shared
def test_evaluate_cli_prints_table_and_writes_plots(tmp_path, capsys):
    res = SHARED / "otb_results"
    argv = [
        "evaluate",
        "--dataset",
        "otb2013",
        "--results",
        str(res / "MDnet"),
        "--results",
        str(res / "SRDCF"),
        "--annotations",
        str(SHARED / "otb_meta" / "anno_tb100"),
        "--json",
        str(tmp_path / "s.json"),
        "--plot",
        str(tmp_path / "ope.png"),
        "--attribute-plot",
        str(tmp_path / "att.png"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[2].startswith("MDnet") and lines[3].startswith("SRDCF")  # sorted by AUC
    for f in ("s.json", "ope.png", "att.png"):
        assert (tmp_path / f).stat().st_size > 1000
