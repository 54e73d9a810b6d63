"""Mid-sequence checkpoints: a run killed part-way through a long sequence resumes where it was.

Exact mode tracks a thousand-frame sequence for hours on a 2-core CPU, longer than a machine may
be kept; without checkpoints a killed run would start such a sequence again from its first frame
every time. A checkpoint holds the tracker's :meth:`~rlattn.tracker.DATTracker.snapshot` and the
boxes so far, written atomically every ``every`` seconds outside the results folder
(:func:`checkpoint_path`), and removed once the result is written. It is used only by a run of the
same configuration, sequence, seed and length (its ``key``); anything else — another key, a
truncated or foreign file — is ignored and overwritten, never trusted: files are read with
``torch.load(weights_only=True)``, which runs no code.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch


def checkpoint_root() -> Path:
    """``$RLATTN_CHECKPOINTS``, else ``$XDG_CACHE_HOME/rlattn/checkpoints`` (``~/.cache/...``):
    outside the results, so that a fresh checkout of a project (or a results folder copied
    elsewhere) carries no half-runs of hundreds of MB, while the machine's runs still find theirs."""
    explicit = os.environ.get("RLATTN_CHECKPOINTS")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rlattn" / "checkpoints"


def checkpoint_path(out_dir: Path, name: str) -> Path:
    """Where the checkpoint of result ``name`` in ``out_dir`` lives: one folder per results
    folder (named by its absolute path's digest, and holding that path in ``folder.txt``)."""
    folder = str(Path(out_dir).resolve())
    return checkpoint_root() / hashlib.sha256(folder.encode()).hexdigest()[:16] / f"{name}.ckpt"


@dataclass
class Checkpoint:
    """A run's checkpoint file: ``key`` says which run it belongs to, ``every`` how often (seconds)
    :meth:`due` turns true, ``note`` what made the part of the run since the last resume (a
    resumed run's facts list every part's)."""

    path: Path
    key: dict
    every: float = 600.0
    note: dict = field(default_factory=dict)  # who runs this part (machine, commit): kept per part
    _last: float = field(default_factory=time.monotonic, repr=False)

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every

    def load(self) -> dict | None:
        """The saved state of this run, or None (no file, another run's, or unreadable)."""
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception as exc:  # truncated, foreign or from an incompatible version: start afresh
            print(f"rlattn: ignoring the unreadable checkpoint {self.path} ({type(exc).__name__}); "
                  "tracking the sequence from its first frame", file=sys.stderr)
            return None
        if not isinstance(state, dict) or state.get("key") != self.key:
            return None
        return state

    def save(self, state: dict) -> None:
        """Write ``state`` (with this run's key) atomically: a kill mid-write leaves the old one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if "folder" in self.key and not (self.path.parent / "folder.txt").exists():
            (self.path.parent / "folder.txt").write_text(f"{self.key['folder']}\n")
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f"{self.path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            torch.save({**state, "key": self.key}, tmp)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._last = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
