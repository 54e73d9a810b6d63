"""The experiment runner and the OpenCV peers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED, needs_shared

from rlattn.cli import main
from rlattn.datasets import make_synthetic_sequence, write_sequence
from rlattn.errors import RlattnError
from rlattn.experiments import TrackerSpec, resolve_sequences, run_experiment
from rlattn.peers import OpenCVTracker
from rlattn.tracker import Tracker


@pytest.fixture
def data_root(tmp_path):
    root = tmp_path / "data"
    for i, name in enumerate(("Alpha", "Beta", "Gamma")):
        write_sequence(make_synthetic_sequence(12, seed=i), root / "otb" / name)
    return root


def test_runner_is_resumable_and_isolates_failures(data_root, tmp_path):
    (data_root / "otb" / "Beta" / "img" / "0005.jpg").write_bytes(b"broken")
    refs, missing = resolve_sequences(data_root, "otb2015", ["Alpha", "Beta", "Gamma", "Delta"])
    assert missing == ["delta"] and [r.result_name for r in refs] == ["Alpha", "Beta", "Gamma"]
    out = tmp_path / "KCF"
    first = run_experiment(TrackerSpec("kcf"), refs, out, progress=False)
    assert first.done == ["Alpha", "Gamma"] and list(first.failed) == ["Beta"]
    assert "0005.jpg is unreadable" in first.failed["Beta"]
    boxes = np.loadtxt(out / "Alpha.txt", delimiter=",")
    assert boxes.shape == (12, 4)
    info = json.loads((out / "Alpha.json").read_text())
    assert info["tracker"] == "KCF" and info["frames"] == 12 and info["fps"] > 0
    stamp = (out / "Alpha.txt").stat().st_mtime_ns
    again = run_experiment(TrackerSpec("kcf"), refs, out, progress=False)
    assert again.skipped == ["Alpha", "Gamma"] and again.done == [] and list(again.failed) == ["Beta"]
    assert (out / "Alpha.txt").stat().st_mtime_ns == stamp  # finished work is kept, not redone
    assert not list(out.glob(".*.tmp"))  # no half-written files left behind


def test_run_cli_with_two_workers_and_evaluate(data_root, tmp_path, capsys):
    out = tmp_path / "CSRT"
    argv = [
        "run",
        "--tracker",
        "csrt",
        "--data-root",
        str(data_root),
        "--sequences",
        "Alpha,Gamma",
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "2 done" in capsys.readouterr().out
    assert (
        main(["evaluate", "--results", str(out), "--annotations", str(data_root / "otb"), "--sequences", "Alpha,Gamma"])
        == 0
    )
    table = capsys.readouterr().out
    assert "CSRT" in table and " 2 " in table


def test_peers_follow_the_protocol():
    seq = make_synthetic_sequence(6)
    for kind in ("csrt", "kcf"):
        t = OpenCVTracker(kind)
        assert isinstance(t, Tracker)
        t.init(seq.image(0), seq.boxes[0])
        box = t.update(seq.image(1))
        assert box.shape == (4,) and np.isfinite(box).all()
    with pytest.raises(RlattnError, match="NanoTrack needs"):
        OpenCVTracker("nanotrack", nanotrack_dir="/nonexistent")


@needs_shared
def test_nanotrack_runs_on_a_shared_sequence():
    from rlattn.boxes import iou
    from rlattn.datasets import load_otb_sequence

    seq = load_otb_sequence(SHARED / "otb" / "Car4").truncated(30)
    t = OpenCVTracker("nanotrack", SHARED.parent / "models" / "nanotrack")
    t.init(seq.image(0), seq.boxes[0])
    boxes = np.array([seq.boxes[0]] + [t.update(seq.image(i)) for i in range(1, len(seq))])
    assert iou(boxes, seq.boxes).mean() > 0.5


def test_synthetic_is_a_named_dataset_for_run_and_evaluate(tmp_path, capsys):
    root, out = tmp_path / "syn", tmp_path / "runs" / "KCF"
    args = ["run", "--tracker", "kcf", "--dataset", "synthetic", "--data-root", str(root), "--out", str(out)]
    assert main(args + ["--no-progress"]) == 0
    names = sorted(p.stem for p in out.glob("*.txt"))
    assert names == [f"Synthetic{i}" for i in range(1, 6)]
    assert np.loadtxt(out / "Synthetic1.txt", delimiter=",").shape == (80, 4)
    capsys.readouterr()
    js = tmp_path / "scores.json"
    args = ["evaluate", "--dataset", "synthetic", "--results", str(out), "--annotations", str(root / "otb")]
    assert main(args + ["--json", str(js)]) == 0
    table = capsys.readouterr().out
    assert "KCF" in table and "synthetic" in table
    scores = json.loads(js.read_text())
    assert len(scores["KCF"]["per_sequence"]) == 5 and scores["KCF"]["overall"]["sequences"] == 5


def test_results_folders_are_per_configuration_and_reused(data_root, tmp_path):
    from rlattn.evaluation.annotations import load_annotations
    from rlattn.evaluation.benchmark import evaluate_folder
    from rlattn.experiments import results_folder, run_configs

    refs, _ = resolve_sequences(data_root, "otb2015", ["Alpha", "Gamma"], frames=8)
    specs = {"KCF": TrackerSpec("kcf"), "CSRT": TrackerSpec("csrt")}
    folders, first = run_configs(specs, refs, tmp_path / "res", progress=False)
    assert sorted(first.done) == ["CSRT/Alpha", "CSRT/Gamma", "KCF/Alpha", "KCF/Gamma"]
    assert folders["KCF"] == results_folder(tmp_path / "res", TrackerSpec("kcf"), 8)
    assert folders["KCF"].name.startswith("kcf-") and folders["KCF"] != results_folder(tmp_path / "res", specs["KCF"])
    info = json.loads((folders["KCF"] / "Alpha.json").read_text())
    assert info["frames"] == 8 and info["run"]["machine"] and info["config_hash"] in folders["KCF"].name
    _, again = run_configs(specs, refs, tmp_path / "res", progress=False)
    assert again.done == [] and len(again.skipped) == 4
    # scoring runs made with --frames: only the first 8 annotated frames count
    annotations = load_annotations(data_root / "otb")
    report = evaluate_folder(folders["KCF"], annotations, ["alpha", "gamma"], frames=8)
    assert report.overall["sequences"] == 2 and not report.problems


def test_a_scratch_root_leaves_the_committed_results_untouched(data_root, tmp_path):
    """A chapter rerun with other parameters: what the committed folder holds is reused, what it
    lacks runs under the scratch root, and nothing is written into the committed results."""
    from rlattn.experiments import run_configs

    committed, scratch = tmp_path / "committed", tmp_path / "scratch"
    one, _ = resolve_sequences(data_root, "otb2015", ["Alpha"], frames=6)
    run_configs({"KCF": TrackerSpec("kcf")}, one, committed, progress=False)
    before = sorted((p.relative_to(committed), p.stat().st_mtime_ns) for p in committed.rglob("*"))
    folders, same = run_configs({"KCF": TrackerSpec("kcf")}, one, committed, progress=False, scratch_root=scratch)
    assert folders["KCF"].parent == committed and same.done == [] and not scratch.exists()
    two, _ = resolve_sequences(data_root, "otb2015", ["Alpha", "Gamma"], frames=6)
    folders, more = run_configs({"KCF": TrackerSpec("kcf")}, two, committed, progress=False, scratch_root=scratch)
    assert folders["KCF"].parent == scratch and more.done == ["KCF/Gamma"] and more.skipped == ["KCF/Alpha"]
    assert sorted((p.relative_to(committed), p.stat().st_mtime_ns) for p in committed.rglob("*")) == before
    assert (folders["KCF"] / "Gamma.txt").is_file() and not (committed / folders["KCF"].name / "Gamma.txt").exists()


def test_holding_checks_read_a_folder_without_claiming_it(data_root, tmp_path):
    """Asking whether committed results hold a configuration never creates or claims the folder."""
    from rlattn.experiments import holds_results, holds_vot_runs, results_folder, run_configs

    refs, _ = resolve_sequences(data_root, "otb2015", ["Alpha"], frames=6)
    missing = tmp_path / "res" / "kcf-x"
    assert not holds_results(missing, TrackerSpec("kcf"), refs) and not missing.exists()
    assert not holds_vot_runs(missing, TrackerSpec("kcf"), [tmp_path / "bag"], 1) and not missing.exists()
    run_configs({"KCF": TrackerSpec("kcf")}, refs, tmp_path / "res", progress=False)
    kcf = results_folder(tmp_path / "res", TrackerSpec("kcf"), 6)
    assert holds_results(kcf, TrackerSpec("kcf"), refs)
    assert not holds_results(kcf, TrackerSpec("csrt"), refs)  # another configuration's folder holds nothing of it
