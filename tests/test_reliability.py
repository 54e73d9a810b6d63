"""Results folders that cannot be corrupted, no orphan workers, and bad input that is never tracked
silently: each case a hostile tester found, as a regression test (races and kills with real
processes)."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rlattn.cli import main
from rlattn.config import TrackerConfig
from rlattn.datasets import load_otb_sequence, make_synthetic_sequence, write_sequence
from rlattn.errors import RlattnError
from rlattn.experiments import MANIFEST, TrackerSpec, claim_folder, resolve_sequences, sequence_tasks
from rlattn.peers import OpenCVTracker
from rlattn.results import create_exclusive, exclusive
from rlattn.tracking import track_sequence

psutil = pytest.importorskip("psutil")

NAMES = ["Alpha", "Beta", "Gamma", "Delta"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for i, name in enumerate(NAMES):
        write_sequence(make_synthetic_sequence(40, seed=i), root / "otb" / name)
    return root


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def _rlattn(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rlattn.cli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# --- 1. two runs into one folder -----------------------------------------------------------------


def test_the_manifest_is_created_by_exactly_one_writer(tmp_path):
    path = tmp_path / "m.json"
    assert create_exclusive(path, "first\n")
    assert not create_exclusive(path, "second\n")
    assert path.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_a_sequence_tracked_elsewhere_is_left_to_that_run(data_root, tmp_path):
    refs, _ = resolve_sequences(data_root, "otb2015", ["Alpha"])
    (task,) = sequence_tasks(TrackerSpec("kcf"), refs, tmp_path / "r")
    with exclusive(tmp_path / "r" / ".Alpha.lock") as mine:
        assert mine
        outcome = task()  # the same process stands in for the other run: flock is per open file
    assert outcome.busy and outcome.error is None
    assert not (tmp_path / "r" / "Alpha.txt").exists()
    assert not task().busy and task.finished()
    assert not list((tmp_path / "r").glob(".*"))  # lock files go with the run that held them


def test_two_configurations_started_together_never_share_a_folder(data_root, tmp_path):
    common = ["--data-root", str(data_root), "--sequences", ",".join(NAMES), "--no-progress"]
    for attempt in range(3):
        out = tmp_path / f"r{attempt}"
        procs = [_rlattn("run", "--tracker", t, "--out", str(out), *common) for t in ("kcf", "csrt")]
        codes = [p.wait(timeout=300) for p in procs]
        errs = [p.stderr.read() for p in procs]
        assert sorted(codes) == [0, 2], errs  # one claims the folder, the other is refused
        refused = errs[codes.index(2)]
        assert "holds results of another configuration (tracker" in refused
        owner = json.loads((out / MANIFEST).read_text())["tracker"]
        trackers = {json.loads(p.read_text())["tracker"].lower() for p in out.glob("*.json") if p.name != MANIFEST}
        assert trackers == {owner}


def test_two_equal_runs_together_share_the_work(data_root, tmp_path):
    out = tmp_path / "r"
    argv = ["run", "--tracker", "csrt", "--out", str(out), "--data-root", str(data_root), "--no-progress"]
    procs = [_rlattn(*argv, "--sequences", ",".join(NAMES)) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    done = [int(p.stdout.read().split(": ")[1].split(" done")[0]) for p in procs]
    assert sum(done) == len(NAMES)  # every sequence tracked once, not twice
    assert sorted(p.stem for p in out.glob("*.txt")) == sorted(NAMES)


# --- 2. track and run folders ---------------------------------------------------------------------


def test_track_refuses_a_run_folder_and_run_ignores_a_tracked_file(data_root, tmp_path, capsys):
    out = tmp_path / "r"
    base = ["--data-root", str(data_root), "--sequences", "Alpha", "--out", str(out), "--no-progress"]
    assert main(["run", "--tracker", "kcf", *base]) == 0
    capsys.readouterr()
    code, _, err = _cli(["track", "--sequence", str(data_root / "otb" / "Alpha"), "--out", str(out)], capsys)
    assert code == 2 and "results folder of 'rlattn run'" in err
    _one_line(err)
    # a result without this configuration's hash (as track writes them) is not taken as finished
    info = json.loads((out / "Alpha.json").read_text())
    del info["config_hash"]
    (out / "Alpha.json").write_text(json.dumps(info))
    refs, _ = resolve_sequences(data_root, "otb2015", ["Alpha"])
    (task,) = sequence_tasks(TrackerSpec("kcf"), refs, out)
    assert not task.finished()
    (out / "Alpha.json").write_text("[1, 2]")  # valid JSON, not an object
    assert not task.finished()


# --- 3. no orphan workers -------------------------------------------------------------------------


def _workers_of(proc: subprocess.Popen, out: Path, n: int, timeout: float = 300) -> list:
    """The spawned worker processes of ``proc`` once ``n`` of them are tracking (each holds a
    sequence's lock file: its start-up, imports included, is over)."""
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        kids = [k for k in parent.children() if "spawn_main" in " ".join(k.cmdline())]
        if len(kids) >= n and len(list(out.glob(".*.lock"))) >= n:
            return kids
        time.sleep(0.5)
    raise AssertionError("the workers did not start")


def _gone_within(procs: list, seconds: float) -> bool:
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    for p in alive:
        p.kill()
    return not alive


@pytest.fixture(scope="module")
def long_root(tmp_path_factory):
    """Sequences that keep DAT busy for minutes: a killed run must not leave them running."""
    root = tmp_path_factory.mktemp("long")
    for i in range(4):
        write_sequence(make_synthetic_sequence(400, seed=i), root / "otb" / f"L{i}")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killing_a_pool_run_ends_its_workers(long_root, tmp_path, sig):
    argv = ["run", "--tracker", "dat", "--quick", "--mode", "fast", "--data-root", str(long_root)]
    argv += ["--sequences", "L0,L1,L2,L3", "--out", str(tmp_path / "r"), "--workers", "2", "--no-progress"]
    launcher = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    launcher += "from rlattn.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", launcher, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        workers = _workers_of(proc, tmp_path / "r", 2)
        proc.send_signal(sig)
        assert _gone_within(workers, 10), f"pool workers outlived the run after {sig.name}"
    finally:
        proc.kill()
        proc.wait()


# --- 4. input that used to be tracked silently ----------------------------------------------------


def test_a_truncated_jpeg_is_refused(data_root, tmp_path):
    seq = tmp_path / "Cut"
    write_sequence(make_synthetic_sequence(3, seed=1), seq)
    frame = seq / "img" / "0002.jpg"
    frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 2])
    s = load_otb_sequence(seq)
    s.image(0)
    with pytest.raises(RlattnError, match="0002.jpg is truncated"):
        s.image(1)


@pytest.mark.parametrize("box", [[10, 10, 0, 20], [10, 10, 20, -5]])
def test_opencv_peers_refuse_an_empty_first_box(box):
    image = np.zeros((60, 80, 3), np.uint8)
    with pytest.raises(RlattnError, match="zero or negative size"):
        OpenCVTracker("kcf").init(image, np.array(box, float))


def test_frames_that_change_size_are_refused(tmp_path):
    seq = make_synthetic_sequence(4, seed=0)
    seq.frames = [seq.image(0), seq.image(1), seq.image(2)[:-8], seq.image(3)]
    tracker = OpenCVTracker("kcf")
    with pytest.raises(RlattnError, match="frame 3 is .* the first frame"):
        track_sequence(tracker, seq, progress=False)


@pytest.mark.parametrize("lam", ["nan", "inf", "-1"])
def test_lambda_must_be_finite_and_not_negative(data_root, tmp_path, capsys, lam):
    code, _, err = _cli(["run", "--tracker", "dat", f"--lambda={lam}", "--data-root", str(data_root),
                         "--out", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == 2 and "finite number >= 0" in err
    assert not (tmp_path / "r" / MANIFEST).exists()


# --- 5. a run that cannot work claims nothing ----------------------------------------------------


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--frames", "0"], "--frames must be >= 1"),
        (["--backbone", "vggm"], "needs its ImageNet weights"),
        (["--reg-samples", "0"], "--reg-samples must be >= 1"),
    ],
)
def test_a_run_that_cannot_work_fails_before_claiming(data_root, tmp_path, capsys, extra, match):
    out = tmp_path / "r"
    argv = ["run", "--tracker", "dat", "--data-root", str(data_root), "--sequences", "Alpha", "--out", str(out)]
    code, _, err = _cli([*argv, *extra], capsys)
    assert code == 2 and match in err
    _one_line(err)
    assert not (out / MANIFEST).exists()


# --- 6. the refusal names the real difference ----------------------------------------------------


def test_the_refusal_names_every_real_difference(tmp_path):
    cfg = TrackerConfig.quick()
    claim_folder(tmp_path, TrackerSpec("dat", cfg))
    with pytest.raises(RlattnError) as exc:
        claim_folder(tmp_path, TrackerSpec("dat", cfg.replace(reg_samples=16, lr_update=0.5)))
    message = str(exc.value)
    assert "reg_samples 8 there, 16 here" in message and "lr_update" in message
    assert "overlap" not in message  # lists and tuples of the same numbers are no difference


# --- 7. one line instead of a traceback -----------------------------------------------------------


def test_output_folders_that_cannot_be_written(data_root, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    seq = str(data_root / "otb" / "Alpha")
    for out in (a_file, a_file / "below"):
        code, _, err = _cli(["track", "--sequence", seq, "--out", str(out), "--no-progress"], capsys)
        assert code == 2, err
        _one_line(err)
        code, _, err = _cli(["run", "--tracker", "kcf", "--data-root", str(data_root), "--out", str(out)], capsys)
        assert code == 2, err
        _one_line(err)


def test_track_checks_its_folder_before_tracking(data_root, tmp_path, capsys, monkeypatch):
    import rlattn.arguments as arguments

    def read_only(path, what="--out"):
        raise RlattnError(f"cannot write into {what} {path}: Read-only file system")

    monkeypatch.setattr(arguments, "writable_folder", read_only)
    tracked = []
    monkeypatch.setattr("rlattn.tracking.track_sequence", lambda *a, **k: tracked.append(1))
    code, _, err = _cli(["track", "--sequence", str(data_root / "otb" / "Alpha"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "Read-only" in err and not tracked


def test_a_full_disk_is_one_line(data_root, tmp_path, capsys, monkeypatch):
    import rlattn.results as results

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r" / MANIFEST))

    monkeypatch.setattr(results, "create_exclusive", full)
    monkeypatch.setattr(results, "atomic_write_text", full)
    argv = ["run", "--tracker", "kcf", "--data-root", str(data_root), "--sequences", "Alpha", "--out"]
    code, _, err = _cli([*argv, str(tmp_path / "r")], capsys)
    assert code == 2 and "No space left on device" in err
    _one_line(err)


def test_bad_weights_files(tmp_path, capsys):
    from rlattn.model.efficientnet_lite import load_efficientnet_lite

    # random bytes make torch's unpickler raise UnpicklingError, IndexError, KeyError or
    # UnicodeDecodeError depending on the bytes: these seeds give one of each
    for seed in (0, 17, 54, 62):
        junk = tmp_path / f"junk{seed}.pth"
        junk.write_bytes(np.random.default_rng(seed).bytes(4096))
        with pytest.raises(RlattnError, match="cannot read"):
            load_efficientnet_lite("lite0", junk)
    wrong = tmp_path / "wrong.pth"
    torch.save({"layer.weight": torch.zeros(3)}, wrong)
    listed = tmp_path / "list.pth"
    torch.save([1, 2, 3], listed)
    for path, match in ((wrong, "does not fit"), (listed, "not a state dict")):
        with pytest.raises(RlattnError, match=match):
            load_efficientnet_lite("lite0", path)


def test_bad_scheduler_and_manifest(data_root, tmp_path, capsys):
    argv = ["run", "--tracker", "kcf", "--data-root", str(data_root), "--sequences", "Alpha"]
    code, _, err = _cli([*argv, "--out", str(tmp_path / "a"), "--scheduler", "bogus"], capsys)
    assert code == 2 and "tcp://HOST:PORT" in err
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / MANIFEST).write_text("[1, 2, 3]")
    code, _, err = _cli([*argv, "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and "not a configuration manifest" in err
    _one_line(err)


# --- 8. evaluate says what it sees ---------------------------------------------------------------


@pytest.fixture
def scored(tmp_path):
    """Annotations of one sequence and a results folder for it."""
    anno = tmp_path / "anno"
    anno.mkdir()
    truth = np.tile([10.0, 10, 20, 20], (20, 1))
    np.savetxt(anno / "Alpha.txt", truth, fmt="%g", delimiter=",")
    res = tmp_path / "A" / "DAT"
    res.mkdir(parents=True)
    np.savetxt(res / "Alpha.txt", truth, fmt="%g", delimiter=",")
    return anno, res


def _evaluate(anno, *folders, extra=()):
    return ["evaluate", "--annotations", str(anno), "--sequences", "Alpha", *extra] + [
        a for f in folders for a in ("--results", str(f))
    ]


def test_evaluate_refuses_two_files_for_one_sequence(scored, capsys):
    anno, res = scored
    (res / "Alpha_Other.txt").write_text((res / "Alpha.txt").read_text())
    code, _, err = _cli(_evaluate(anno, res), capsys)
    assert code == 2 and "two result files for alpha: Alpha.txt and Alpha_Other.txt" in err


def test_evaluate_notes_infinite_boxes(scored, capsys):
    anno, res = scored
    boxes = np.loadtxt(res / "Alpha.txt", delimiter=",")
    boxes[5] = [np.inf, 10, 20, 20]
    np.savetxt(res / "Alpha.txt", boxes, fmt="%g", delimiter=",")
    code, _, err = _cli(_evaluate(anno, res), capsys)
    assert code == 0 and "1 boxes with infinite values" in err


def test_evaluate_keeps_folders_of_one_name_apart(scored, tmp_path, capsys):
    anno, res = scored
    other = tmp_path / "B" / "DAT"
    other.mkdir(parents=True)
    (other / "Alpha.txt").write_text((res / "Alpha.txt").read_text())
    out = tmp_path / "scores.json"
    code, _, _ = _cli(_evaluate(anno, res, other, extra=("--json", str(out))), capsys)
    assert code == 0 and sorted(json.loads(out.read_text())) == ["A/DAT", "B/DAT"]


@pytest.mark.parametrize(
    "extra, match",
    [
        (("--frames", "-1"), "--frames must be >= 1"),
        (("--plot", "x.nothing"), "unknown file type .nothing"),
        (("--json", "."), "is a folder"),
    ],
)
def test_evaluate_checks_its_arguments_first(scored, capsys, extra, match):
    anno, res = scored
    code, _, err = _cli(_evaluate(anno, res, extra=extra), capsys)
    assert code == 2 and match in err
    _one_line(err)


# --- 9. smaller -----------------------------------------------------------------------------------


def test_a_first_box_partly_outside_the_frame_is_tracked():
    seq = make_synthetic_sequence(3, seed=0)
    image = seq.image(0)
    h, w = image.shape[:2]
    box = np.array([-0.4 * 40 + 1, h / 3, 40, 40])  # 40% of its width left of the frame
    from rlattn.boxes import to_zero_based, validate_init_box

    validate_init_box(to_zero_based(box)[0], image.shape)
    from rlattn.tracker import DATTracker

    tracker = DATTracker(TrackerConfig.quick().replace(mode="fast", lam=0.0))  # λ plays no part here
    tracker.init(image, box)
    assert np.all(np.isfinite(tracker.update(seq.image(1))))


def test_repeated_sequences_and_lambdas_are_one_task(data_root, tmp_path, capsys):
    argv = ["run", "--tracker", "kcf", "--data-root", str(data_root), "--sequences", "Alpha,alpha,Alpha"]
    code, out, _ = _cli([*argv, "--out", str(tmp_path / "k"), "--no-progress"], capsys)
    assert code == 0 and "1 done" in out
    argv = ["run", "--tracker", "dat", "--lambda", "0,0.0,-0", "--quick", "--mode", "fast", "--frames", "3"]
    code, out, _ = _cli([*argv, "--data-root", str(data_root), "--sequences", "Alpha", "--out",
                         str(tmp_path / "d"), "--no-progress"], capsys)  # fmt: skip
    assert code == 0 and "1 done" in out
    assert not list((tmp_path / "d").glob("lambda_*"))  # one λ: no sweep subfolders


def test_runs_and_start_frame_below_one(data_root, tmp_path, capsys):
    code, _, err = _cli(["run", "--tracker", "kcf", "--dataset", "vot2016", "--runs", "-1", "--data-root",
                         str(data_root), "--out", str(tmp_path / "v")], capsys)  # fmt: skip
    assert code == 2 and "--runs must be >= 1" in err
    seq = str(data_root / "otb" / "Alpha")
    code, _, err = _cli(["track", "--sequence", seq, "--start-frame", "0", "--out", str(tmp_path / "t")], capsys)
    assert code == 2 and "--start-frame must be >= 1" in err
    with pytest.raises(RlattnError, match="from frame 0"):
        load_otb_sequence(seq, start_frame=0)


def test_an_empty_result_is_called_a_result_file(scored, capsys):
    anno, res = scored
    (res / "Alpha.txt").write_text("\n")
    code, _, err = _cli(_evaluate(anno, res), capsys)
    assert "result file" in err and "ground-truth" not in err


def test_result_files_are_readable_by_others(data_root, tmp_path):
    refs, _ = resolve_sequences(data_root, "otb2015", ["Alpha"])
    (task,) = sequence_tasks(TrackerSpec("kcf"), refs, tmp_path / "r")
    task()
    mask = os.umask(0)
    os.umask(mask)
    for path in [*Path(tmp_path / "r").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path.name


def test_a_result_finished_by_another_run_while_waiting_counts_as_found(tmp_path):
    """Run B saw a sequence unfinished, run A finished it before B's task got its turn: B must
    neither track it again nor report it as its own work (the cause of a flaky 5-of-4 count)."""
    from rlattn.executors import RunSummary
    from rlattn.experiments import _run_once

    class Finished:
        label = "Alpha"

        def finished(self):
            return True

        def _track(self, start):
            raise AssertionError("tracked twice")

    outcome = _run_once(Finished(), tmp_path / ".Alpha.lock")
    summary = RunSummary()
    summary.record(outcome)
    assert outcome.found and summary.skipped == ["Alpha"] and not summary.done
