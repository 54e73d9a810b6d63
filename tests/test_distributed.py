"""Experiments on a Dask cluster (loopback only): same files as the local pool, a killed worker
loses nothing, an interrupted client resumes with only what is missing, configs never mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from rlattn.cli import main
from rlattn.config import TrackerConfig
from rlattn.datasets import make_synthetic_sequence, write_sequence
from rlattn.errors import RlattnError
from rlattn.executors import execute
from rlattn.experiments import TrackerSpec, claim_folder, resolve_sequences, run_experiment, sequence_tasks

distributed = pytest.importorskip("distributed")

NAMES = ["S1", "S2", "S3", "S4", "S5", "S6"]
TIMING_KEYS = {"fps", "init_seconds", "update_seconds", "phase_seconds", "run"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """Six synthetic sequences (CSRT needs ~1.5 s for each) and one with an unreadable frame."""
    root = tmp_path_factory.mktemp("data")
    for i, name in enumerate(NAMES, start=1):
        write_sequence(make_synthetic_sequence(100, seed=i), root / "otb" / name)
    write_sequence(make_synthetic_sequence(10, seed=9), root / "otb" / "Broken")
    (root / "otb" / "Broken" / "img" / "0004.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.fixture(scope="module")
def reference(data_root, tmp_path_factory):
    """The undisturbed run, in this process."""
    out = tmp_path_factory.mktemp("ref") / "CSRT"
    refs, _ = resolve_sequences(data_root, "otb2015", NAMES + ["Broken"])
    summary = run_experiment(TrackerSpec("csrt"), refs, out, progress=False)
    assert sorted(summary.done) == NAMES and list(summary.failed) == ["Broken"]
    return out


def assert_same_results(out, ref):
    """Boxes byte for byte, run facts but the timings; exactly one result pair per sequence."""
    assert sorted(p.name for p in out.glob("*.txt")) == [f"{n}.txt" for n in NAMES]
    assert not list(out.glob(".*.tmp")), "a half-written file was left behind"
    for name in NAMES:
        assert (out / f"{name}.txt").read_bytes() == (ref / f"{name}.txt").read_bytes(), name
        a, b = (json.loads((d / f"{name}.json").read_text()) for d in (out, ref))
        assert {k: v for k, v in a.items() if k not in TIMING_KEYS} == {
            k: v for k, v in b.items() if k not in TIMING_KEYS
        }


def test_local_cluster_gives_the_same_files_as_the_local_pool(data_root, reference, tmp_path):
    refs, _ = resolve_sequences(data_root, "otb2015", NAMES + ["Broken"])
    for how, backend in (("pool", {}), ("dask", {"scheduler": "local"})):
        out = tmp_path / how
        summary = execute(sequence_tasks(TrackerSpec("csrt"), refs, out), workers=2, progress=False, **backend)
        assert sorted(summary.done) == NAMES, how
        # bad data fails once, with its reason, and does not block the rest
        assert list(summary.failed) == ["Broken"] and "0004.jpg is unreadable" in summary.failed["Broken"]
        assert [o.label for o in summary.outcomes].count("Broken") == 1
        assert_same_results(out, reference)
    pids = {o.pid for o in summary.outcomes}
    assert os.getpid() not in pids and len(pids) >= 1  # the Dask run really ran in worker processes


def test_a_worker_killed_mid_sequence_loses_nothing(data_root, reference, tmp_path):
    refs, _ = resolve_sequences(data_root, "otb2015", NAMES)
    out = tmp_path / "CSRT"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = {}
        runner = threading.Thread(
            target=lambda: result.setdefault(
                "summary", run_experiment(TrackerSpec("csrt"), refs, out, progress=False, client=client)
            )
        )
        runner.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                victim = next(iter(busy))
                killed_task = next(iter(busy[victim])).rsplit("-", 1)[0]
            time.sleep(0.05)
        assert victim is not None, "no task ever started"
        time.sleep(0.3)  # well inside a ~1.5 s sequence
        pid = client.run(os.getpid, workers=[victim])[victim]
        assert not (out / f"{killed_task}.txt").exists()
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=180)
        assert not runner.is_alive()
    summary = result["summary"]
    assert sorted(summary.done) == NAMES and not summary.failed
    (again,) = [o for o in summary.outcomes if o.label == killed_task]
    assert again.pid != pid  # the killed worker's task was run again elsewhere
    assert_same_results(out, reference)


def _count_results(out) -> int:
    return len(list(out.glob("*.txt"))) if out.is_dir() else 0


def test_an_interrupted_client_resumes_with_only_the_missing(data_root, reference, tmp_path, capsys):
    out = tmp_path / "CSRT"
    argv = ["run", "--tracker", "csrt", "--data-root", str(data_root), "--sequences", ",".join(NAMES)]
    argv += ["--out", str(out), "--no-progress"]
    # a child of a shell that ignores SIGINT inherits that; give it Python's Ctrl-C back
    launcher = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    launcher += "from rlattn.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher, *argv, "--scheduler", "local", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _count_results(out) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    finished = _count_results(out)
    assert 1 <= finished < len(NAMES), "the interruption should land mid-run"
    assert f"{finished} done" in stdout  # what finished while stopping is counted too
    assert main(argv) == 0
    line = capsys.readouterr().out
    assert f"{len(NAMES) - finished} done, {finished} already there" in line
    assert_same_results(out, reference)


def test_configs_never_mix(tmp_path):
    cfg = TrackerConfig.quick()
    dat5, dat2 = TrackerSpec("dat", cfg), TrackerSpec("dat", cfg.replace(lam=2.0))
    assert dat5.config_hash() != dat2.config_hash()
    assert dat5.config_hash() == TrackerSpec("dat", cfg.replace(device="cuda")).config_hash()
    assert dat5.config_hash() != dat5.config_hash(frames=10)
    assert TrackerSpec("mdnet", cfg).describe()["config"]["lam"] == 0.0
    claim_folder(tmp_path, dat5)
    claim_folder(tmp_path, dat5)  # the same config may resume
    with pytest.raises(RlattnError, match="lam 5.0 there, 2.0 here"):
        claim_folder(tmp_path, dat2)


def test_lambda_sweep_through_a_local_cluster(data_root, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["run", "--tracker", "dat", "--lambda", "0,5", "--quick", "--mode", "fast", "--frames", "4"]
    argv += ["--sequences", "S1", "--data-root", str(data_root), "--out", str(out)]
    argv += ["--scheduler", "local", "--workers", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert "2 done" in capsys.readouterr().out
    hashes = set()
    for lam in ("0", "5"):
        info = json.loads((out / f"lambda_{lam}" / "S1.json").read_text())
        assert info["config"]["lam"] == float(lam) and info["frames"] == 4
        manifest = json.loads((out / f"lambda_{lam}" / "rlattn-config.json").read_text())
        assert manifest["config_hash"] == info["config_hash"]
        hashes.add(info["config_hash"])
    assert len(hashes) == 2
    assert main(["run", "--tracker", "kcf", "--lambda", "0,5", "--out", str(out), "--data-root", str(data_root)]) == 2
    assert "needs --tracker dat" in capsys.readouterr().err
