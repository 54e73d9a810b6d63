"""Bad input gets one clear line and a non-zero exit, never a traceback from deep inside torch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, needs_shared, write_otb_folder

from rlattn.boxes import iou, validate_init_box
from rlattn.cli import main
from rlattn.datasets import load_otb_sequence, load_vot_sequence, open_sequence
from rlattn.errors import RlattnError
from rlattn.patches import extract_patches, image_tensor
from rlattn.sampling import generate, generate_with_overlap


def _frames(n=3, h=60, w=80, gray=False):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w) if gray else (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _run_cli(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing", "not found"),
        ("empty", "no frames"),
        ("malformed", "cannot read numbers"),
        ("wrong_count", "expected 4 numbers"),
        ("zero_size", "zero or negative size"),
        ("outside", "outside the 80x60 image"),
        ("mismatch", "3 frames but 2 ground-truth boxes"),
        ("no_gt", "no groundtruth_rect.txt"),
        ("two_targets", "choose one with --target 1 or 2"),
    ],
)
def test_bad_sequences_give_one_line_errors(tmp_path, capsys, case, match):
    seq = tmp_path / "Seq"
    frames = _frames()
    good = [[10, 10, 20, 20]] * 3
    if case == "missing":
        pass
    elif case == "empty":
        (seq / "img").mkdir(parents=True)
        (seq / "groundtruth_rect.txt").write_text("1,1,5,5\n")
    elif case == "malformed":
        write_otb_folder(tmp_path, frames, None)
        (seq / "groundtruth_rect.txt").write_text("10,10,20,20\n10,ten,20,20\n10,10,20,20\n")
    elif case == "wrong_count":
        write_otb_folder(tmp_path, frames, None)
        (seq / "groundtruth_rect.txt").write_text("10,10,20\n10,10,20,20\n10,10,20,20\n")
    elif case == "zero_size":
        write_otb_folder(tmp_path, frames, [[10, 10, 0, 20]] + good[1:])
    elif case == "outside":
        write_otb_folder(tmp_path, frames, [[200, 10, 20, 20]] + good[1:])
    elif case == "mismatch":
        write_otb_folder(tmp_path, frames, good[:2])
    elif case == "no_gt":
        write_otb_folder(tmp_path, frames, None)
    elif case == "two_targets":
        write_otb_folder(tmp_path, frames, good, gt_name="groundtruth_rect.1.txt")
        (seq / "groundtruth_rect.2.txt").write_text("\n".join(["5,5,10,10"] * 3))
    code, err = _run_cli(["track", "--sequence", str(seq), "--out", str(tmp_path / "out"), "--no-progress"], capsys)
    assert code == 2
    assert match in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_init_box_argument(tmp_path, capsys):
    write_otb_folder(tmp_path, _frames(), [[10, 10, 20, 20]] * 3)
    with pytest.raises(SystemExit) as exc:
        main(["track", "--sequence", str(tmp_path / "Seq"), "--init", "1,2,3", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "four numbers" in capsys.readouterr().err


def test_unreadable_frame_is_reported(tmp_path):
    seq = write_otb_folder(tmp_path, _frames(), [[10, 10, 20, 20]] * 3)
    (seq / "img" / "0002.jpg").write_bytes(b"garbage")
    s = load_otb_sequence(seq)
    with pytest.raises(RlattnError, match="0002.jpg is unreadable"):
        s.image(1)


def test_start_frame_and_two_targets(tmp_path):
    seq = write_otb_folder(tmp_path, _frames(5), [[10, 10, 20, 20]] * 3, name="Dav")
    s = load_otb_sequence(seq, start_frame=3)
    assert len(s) == 3 and s.frames[0].name == "0003.jpg" and s.first_frame == 3
    with pytest.raises(RlattnError, match="need 7 frames"):
        load_otb_sequence(seq, start_frame=5)


def test_frame_table_is_used_when_counts_differ(tmp_path):
    root = tmp_path / "data"
    write_otb_folder(root / "otb", _frames(5), [[10, 10, 20, 20]] * 2, name="Dav")
    (root / "otb_meta").mkdir()
    (root / "otb_meta" / "seq_frames_tb100.tsv").write_text("name\tstartFrame\tendFrame\ndav\t4\t5\n")
    s = load_otb_sequence(root / "otb" / "Dav")
    assert [p.name for p in s.frames] == ["0004.jpg", "0005.jpg"]


@needs_shared
def test_shared_otb_quirks():
    david = load_otb_sequence(SHARED / "otb" / "David")
    assert david.first_frame == 300 and len(david) == 471 and david.frames[0].name == "0300.jpg"
    diving = load_otb_sequence(SHARED / "otb" / "Diving")
    assert len(diving) == 215
    jog = open_sequence(SHARED / "otb" / "Jogging", target=2)
    assert jog.name == "Jogging.2" and len(jog) == 307
    car4 = load_otb_sequence(SHARED / "otb" / "Car4")
    assert len(car4) == 659 and car4.image(0).shape == (240, 360, 3)  # grayscale expanded
    bag = load_vot_sequence(SHARED / "vot" / "bag")
    assert bag.polygons.shape[1] == 8 and len(bag.boxes) == len(bag)


def test_iou_and_boxes():
    a = np.array([0, 0, 10, 10.0])
    assert iou(a, a)[0] == 1.0
    assert iou(a, [5, 0, 10, 10])[0] == pytest.approx(50 / 150)
    assert iou(a, [20, 20, 5, 5])[0] == 0.0
    assert iou(a, [0, 0, 0, 0])[0] == 0.0
    with pytest.raises(RlattnError):
        validate_init_box([1, 2, np.nan, 4], (10, 10))


def test_generators_respect_image_and_overlap():
    rng = np.random.default_rng(0)
    box = np.array([50, 40, 30, 20.0])
    for kind in ("gaussian", "uniform", "whole"):
        s = generate(rng, kind, box, 200, (160, 120), trans=1.0, scale=1.3)
        assert s.shape == (200, 4)
        assert (s[:, 2:] >= 10).all()
        cx, cy = s[:, 0] + s[:, 2] / 2, s[:, 1] + s[:, 3] / 2
        assert (cx >= 0).all() and (cx <= 160).all() and (cy >= 0).all() and (cy <= 120).all()
    pos = generate_with_overlap(rng, "gaussian", box, 50, (160, 120), (0.7, 1.0), trans=0.1, scale=1.3)
    assert len(pos) == 50 and (iou(pos, box) >= 0.7).all()


def test_patch_extraction_geometry():
    img = np.zeros((50, 60, 3), np.uint8)
    img[20:30, 25:35] = 255  # a white square
    t = image_tensor(img)
    p = extract_patches(t, np.array([[25, 20, 10, 10]]), img_size=21, padding=0)
    assert p.shape == (1, 3, 21, 21)
    assert float(p[0, :, 10, 10].mean()) == pytest.approx(127.0)  # centre: white, centred
    far = extract_patches(t, np.array([[-100, -100, 10, 10]]), img_size=21, padding=0)
    assert float(far.abs().max()) == 0.0  # outside the frame reads as grey 128


def test_frames_in_numeric_order_and_lambda_must_be_finite(tmp_path):
    from rlattn.config import TrackerConfig
    from rlattn.datasets.sequence import list_frames

    for n in (1, 2, 10, 11, 9):
        (tmp_path / f"{n}.jpg").write_bytes(b"x")
    assert [p.stem for p in list_frames(tmp_path)] == ["1", "2", "9", "10", "11"]
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(RlattnError, match="finite number >= 0"):
            TrackerConfig(lam=bad)
    assert (
        main(["run", "--tracker", "dat", "--lambda", "nan", "--dataset", "synthetic", "--out", str(tmp_path / "o")])
        == 2
    )
