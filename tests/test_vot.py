"""VOT-2016 supervised protocol on a synthetic sequence with a tracker that fails on purpose."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED

from rlattn.datasets import make_synthetic_sequence
from rlattn.evaluation.vot import (
    FAILURE,
    INIT,
    SKIP,
    accuracy,
    eao,
    expected_overlap_curve,
    polygon_overlap,
    read_vot_result,
    run_supervised,
    write_vot_result,
)


class FailsAt:
    """Reports the ground truth shifted by 2 px, except on chosen frames where it jumps away."""

    name = "FailsAt"

    def __init__(self, seq, bad_frames):
        self.seq, self.bad, self.i = seq, set(bad_frames), 0

    def init(self, image, box):
        self.i = int(np.nonzero((self.seq.boxes == box).all(1))[0][0])

    def update(self, image):
        self.i += 1
        box = self.seq.boxes[self.i].copy()
        if self.i in self.bad:
            box[:2] += 1000
        else:
            box[0] += 2
        return box


def test_reset_based_run_counts_failures_and_reinitialises():
    seq = make_synthetic_sequence(40)
    run = run_supervised(FailsAt(seq, {10, 30}), seq)
    assert run.failures == 2
    assert run.init_frames == [0, 15, 35]  # re-initialised 5 frames after each failure
    assert run.codes[10] == FAILURE and run.codes[30] == FAILURE
    assert (run.codes[11:15] == SKIP).all() and (run.codes[31:35] == SKIP).all()
    # accuracy ignores 10 frames after each init: frames 10..14 (no: failure/skip) -> kept frames
    kept = [i for i in range(40) if run.codes[i] == -1 and not any(s <= i < s + 10 for s in run.init_frames)]
    assert kept == list(range(25, 30))
    w = seq.boxes[kept, 2]
    expected = np.mean((w - 2) * seq.boxes[kept, 3] / ((w + 2) * seq.boxes[kept, 3]))
    assert accuracy(run) == pytest.approx(expected, rel=1e-6)


def test_eao_of_perfect_and_failing_runs():
    seq = make_synthetic_sequence(30)

    class Perfect(FailsAt):
        def update(self, image):
            self.i += 1
            box = self.seq.boxes[self.i].copy()
            if self.i in self.bad:
                box[:2] += 1000
            return box

    perfect = run_supervised(Perfect(seq, set()), seq)
    assert perfect.failures == 0 and accuracy(perfect) == pytest.approx(1.0)
    assert np.allclose(expected_overlap_curve([perfect], 30), 1.0)
    failing = run_supervised(Perfect(seq, {5}), seq)
    assert failing.failures == 1 and failing.init_frames == [0, 10]
    curve = expected_overlap_curve([failing], 60)
    # the failed segment (overlaps 1 x5 then 0) pads with zeros; the second one ends at frame 30
    assert curve[4] == pytest.approx(1.0)
    assert curve[59] == pytest.approx(5 / 60)
    assert eao([failing], (50, 60)) == pytest.approx(np.mean(5 / np.arange(50, 61)))


def test_polygon_overlap_and_result_files(tmp_path):
    square = np.array([0, 0, 10, 0, 10, 10, 0, 10], float)
    assert polygon_overlap(square, [0, 0, 10, 10]) == pytest.approx(1.0)
    assert polygon_overlap(square, [5, 0, 10, 10]) == pytest.approx(50 / 150)
    diamond = np.array([5, 0, 10, 5, 5, 10, 0, 5], float)  # area 50, inside the square
    assert polygon_overlap(diamond, [0, 0, 10, 10]) == pytest.approx(0.5)
    assert polygon_overlap(square, [20, 20, 5, 5]) == 0.0
    seq = make_synthetic_sequence(20)
    run = run_supervised(FailsAt(seq, {8}), seq)
    write_vot_result(tmp_path / "r.txt", run)
    codes, boxes = read_vot_result(tmp_path / "r.txt")
    assert codes[0] == INIT and codes[8] == FAILURE and codes[9] == SKIP
    np.testing.assert_allclose(boxes[1], run.boxes[1], atol=0.01)


def test_vot_run_and_evaluate_through_the_cli(tmp_path, capsys):
    import cv2

    from rlattn.cli import main

    seq = make_synthetic_sequence(25)
    folder = tmp_path / "vot" / "synth"
    (folder / "color").mkdir(parents=True)
    for i in range(len(seq)):
        cv2.imwrite(str(folder / "color" / f"{i + 1:08d}.jpg"), seq.image(i)[:, :, ::-1])
    x, y, w, h = (seq.boxes - [1, 1, 0, 0]).T  # VOT polygons are 0-based
    polys = np.stack([x, y, x + w, y, x + w, y + h, x, y + h], axis=1)
    np.savetxt(folder / "groundtruth.txt", polys, fmt="%.2f", delimiter=",")
    out = tmp_path / "runs" / "CSRT"
    argv = ["run", "--tracker", "csrt", "--dataset", "vot2016", "--data-root", str(tmp_path), "--out", str(out)]
    assert main(argv + ["--no-progress"]) == 0
    assert (out / "synth" / "synth_001.txt").is_file()
    assert main(argv + ["--no-progress"]) == 0
    assert "0 runs done, 1 already there" in capsys.readouterr().out
    assert main(["evaluate", "--dataset", "vot2016", "--results", str(out), "--annotations", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "CSRT" in captured.out and "EAO" in captured.out
    assert "EAO undefined" in captured.err  # 25 frames never reach the [108, 371] interval


def test_bounds_and_zero_based_result_files(tmp_path):
    # a box half outside a 20 x 20 image (1-based [1, 21)): clipped, it equals the in-image polygon
    inside = np.array([11, 1, 21, 1, 21, 11, 11, 11], float)
    assert polygon_overlap(inside, [11, 1, 20, 10]) == pytest.approx(0.5)
    assert polygon_overlap(inside, [11, 1, 20, 10], bounds=(20, 20)) == pytest.approx(1.0)
    assert polygon_overlap(inside, [30, 30, 5, 5], bounds=(20, 20)) == 0.0
    (tmp_path / "r.txt").write_text("1\n10.5,20.0,30.0,40.0\n2\n0\n")
    codes, boxes = read_vot_result(tmp_path / "r.txt")  # files are VOT's 0-based; memory is 1-based
    np.testing.assert_allclose(boxes[1], [11.5, 21.0, 30.0, 40.0])
    from rlattn.evaluation.vot import SupervisedRun

    write_vot_result(tmp_path / "w.txt", SupervisedRun(codes, boxes, np.zeros(4)))
    assert (tmp_path / "w.txt").read_text().splitlines()[1] == "10.5000,20.0000,30.0000,40.0000"


RELEASE = SHARED / "dat_release" / "VOT2016" / "Ours" / "baseline"
ANNOTATIONS = SHARED / "vot2016_annotations"


@pytest.mark.skipif(not (RELEASE.is_dir() and ANNOTATIONS.is_dir()), reason="../shared VOT-2016 release absent")
def test_dat_authors_vot2016_results_from_annotations_only(capsys):
    from rlattn.cli import main
    from rlattn.datasets.vot import load_vot_sequence
    from rlattn.evaluation.vot import evaluate_vot_folder

    seqs = {d.name: load_vot_sequence(d, frames_required=False) for d in sorted(ANNOTATIONS.iterdir()) if d.is_dir()}
    assert len(seqs) == 60 and sum(len(s.boxes) for s in seqs.values()) == 21455
    report = evaluate_vot_folder(RELEASE, seqs)
    assert report.sequences == 60 and report.failures == 58
    # one released run per sequence; the paper's Table 4 says 0.320 (see chapter 8 for the gap)
    assert report.eao == pytest.approx(0.311, abs=0.001)
    assert report.accuracy == pytest.approx(0.551, abs=0.001)
    assert any("image size unknown for 60 of 60" in p for p in report.problems)
    argv = ["evaluate", "--dataset", "vot2016", "--results", str(RELEASE), "--annotations", str(ANNOTATIONS)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "60" in out and "0.311" in out


def test_vot2016_annotation_replaces_another_years(tmp_path):
    from rlattn.datasets.vot import load_vot_sequence, vot2016_groundtruth
    from rlattn.experiments import TrackerSpec, vot_tasks

    seq_dir = tmp_path / "vot" / "ball1"
    (seq_dir / "color").mkdir(parents=True)
    seq = make_synthetic_sequence(4)
    import cv2

    for i in range(4):
        cv2.imwrite(str(seq_dir / "color" / f"{i + 1:08d}.jpg"), seq.image(i))
    (seq_dir / "groundtruth.txt").write_text("\n".join(["10,10,20,10,20,20,10,20"] * 4) + "\n")  # "VOT-2015"
    other = tmp_path / "vot2016_annotations" / "ball1"
    other.mkdir(parents=True)
    (other / "groundtruth.txt").write_text("\n".join(["30,30,40,30,40,40,30,40"] * 4) + "\n")
    assert vot2016_groundtruth(tmp_path, "ball1") == other / "groundtruth.txt"
    assert vot2016_groundtruth(tmp_path, "bag") is None and vot2016_groundtruth(None, "ball1") is None
    (task,) = vot_tasks(TrackerSpec("kcf"), [seq_dir], tmp_path / "out", 1, data_root=tmp_path)
    assert task.groundtruth == other / "groundtruth.txt"
    loaded = load_vot_sequence(seq_dir, task.groundtruth)
    np.testing.assert_allclose(loaded.boxes[0], [31, 31, 10, 10])  # 0-based polygon, 1-based box
    only = load_vot_sequence(other, frames_required=False)
    assert len(only.frames) == 0 and len(only.boxes) == 4
    with pytest.raises(Exception, match="no frames"):
        load_vot_sequence(other)
