"""Mid-sequence checkpoints: a run killed part-way and resumed gives an uninterrupted run's boxes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import write_otb_folder
from test_tracker import TINY

from rlattn import DATTracker, TrackerConfig
from rlattn.checkpoints import Checkpoint, checkpoint_path
from rlattn.datasets.synthetic import make_synthetic_sequence
from rlattn.experiments import SequenceRef, TrackerSpec, sequence_tasks
from rlattn.tracking import track_sequence


class Killed(Exception):
    pass


def _killed_at(frame: int):
    def on_frame(i, image, box):
        if i == frame:
            raise Killed

    return on_frame


@pytest.mark.parametrize(
    "mode, lam, weighting",
    [("exact", 5.0, "fixed"), ("fast", 5.0, "relative"), ("exact", 0.0, "fixed")],
)
def test_a_resumed_run_gives_the_uninterrupted_boxes(tmp_path, mode, lam, weighting):
    seq = make_synthetic_sequence(14, size=(160, 120), seed=3)
    cfg = TrackerConfig(mode=mode, lam=lam, reg_weighting=weighting, long_interval=4, seed=2, **TINY)
    whole, _ = track_sequence(DATTracker(cfg), seq, progress=False)

    ckpt = Checkpoint(tmp_path / ".s.ckpt", {"run": 1}, every=0.0, note={"part": "first"})
    with pytest.raises(Killed):  # killed while tracking frame 9: the checkpoint holds frames 0-8
        track_sequence(DATTracker(cfg), seq, progress=False, on_frame=_killed_at(9), checkpoint=ckpt)
    torch.manual_seed(12345)  # whatever ran in between: restore must set the RNGs itself
    np.random.default_rng(7).random(100)
    again = Checkpoint(tmp_path / ".s.ckpt", {"run": 1}, every=0.0, note={"part": "second"})
    resumed, info = track_sequence(DATTracker(cfg), seq, progress=False, checkpoint=again)
    np.testing.assert_array_equal(resumed, whole)
    assert info["resumed_at"] == [8] and info["earlier_parts"] == [{"part": "first"}]


def test_a_checkpoint_of_another_run_is_not_used(tmp_path, capsys):
    seq = make_synthetic_sequence(8, size=(160, 120), seed=3)
    cfg = TrackerConfig(mode="fast", lam=0.0, seed=1, **TINY)
    path = tmp_path / ".s.ckpt"
    with pytest.raises(Killed):
        track_sequence(DATTracker(cfg), seq, progress=False, on_frame=_killed_at(5),
                       checkpoint=Checkpoint(path, {"seed": 1}, every=0.0))
    assert Checkpoint(path, {"seed": 2}).load() is None  # another key: started afresh
    path.write_bytes(b"not a checkpoint")
    assert Checkpoint(path, {"seed": 1}).load() is None  # unreadable: started afresh, with a note
    assert "ignoring the unreadable checkpoint" in capsys.readouterr().err
    boxes, info = track_sequence(DATTracker(cfg), seq, progress=False, checkpoint=Checkpoint(path, {"seed": 1}))
    np.testing.assert_array_equal(boxes, track_sequence(DATTracker(cfg), seq, progress=False)[0])
    assert "resumed_at" not in info


def test_a_killed_run_resumes_in_a_new_process_and_leaves_no_checkpoint(tmp_path, monkeypatch):
    """The runner's path: a sequence task killed mid-sequence (SIGKILL) resumes from its checkpoint
    in a fresh process, gives the uninterrupted run's boxes and removes the checkpoint."""
    monkeypatch.setenv("RLATTN_CHECKPOINTS", str(tmp_path / "ckpt"))
    seq = make_synthetic_sequence(12, size=(160, 120), seed=5)
    frames = [seq.image(i) for i in range(len(seq))]
    write_otb_folder(tmp_path / "otb", frames, seq.boxes, name="Alpha")
    cfg = TrackerConfig(mode="fast", lam=5.0, long_interval=4, **TINY)
    refs = [SequenceRef("alpha", tmp_path / "otb" / "Alpha")]
    (whole,) = sequence_tasks(TrackerSpec("dat", cfg), refs, tmp_path / "whole", seeds=[0])
    assert whole().error is None
    out = tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import dataclasses, os, signal
        from pathlib import Path
        from rlattn import TrackerConfig
        from rlattn.tracker import DATTracker
        from rlattn.experiments import SequenceRef, TrackerSpec, sequence_tasks
        cfg = TrackerConfig(**{cfg.to_dict()!r})
        (task,) = sequence_tasks(TrackerSpec("dat", cfg), [SequenceRef("alpha", Path({str(refs[0].folder)!r}))],
                                 Path({str(out)!r}), seeds=[0])
        task = dataclasses.replace(task, checkpoint_seconds=1e-9)
        kill_at = int(os.environ["KILL_AT"])
        original = DATTracker.update
        def update(self, image):
            if kill_at and self.frame + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, image)
        DATTracker.update = update
        print(task().error)
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "KILL_AT": "7"}, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    ckpt = checkpoint_path(out / "seed0", "Alpha")
    assert ckpt.is_file() and ckpt.is_relative_to(tmp_path / "ckpt") and not (out / "seed0" / "Alpha.txt").exists()
    assert (ckpt.parent / "folder.txt").read_text().strip() == str((out / "seed0").resolve())
    assert not list(out.rglob("*.ckpt"))  # nothing of it among the results
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "KILL_AT": "0"}, capture_output=True)
    assert done.returncode == 0 and done.stdout.decode().strip() == "None", done.stderr.decode()[-2000:]
    np.testing.assert_array_equal(
        np.loadtxt(out / "seed0" / "Alpha.txt", delimiter=","),
        np.loadtxt(tmp_path / "whole" / "seed0" / "Alpha.txt", delimiter=","),
    )
    info = json.loads((out / "seed0" / "Alpha.json").read_text())
    assert info["resumed_at"] == [6] and info["earlier_parts"][0]["machine"]
    assert not ckpt.exists()
