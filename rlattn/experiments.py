"""Run a tracker over many sequences: resumable, fault-isolated, with a progress bar.

Each finished sequence leaves ``<out>/<seq>.txt`` (boxes) and ``<out>/<seq>.json`` (timing and
config), written atomically; a later run with the same output folder skips them. A sequence that
raises is reported and the others go on.
"""

from __future__ import annotations

import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from rlattn.config import TrackerConfig
from rlattn.datasets.otb import load_otb_sequence
from rlattn.errors import RlattnError
from rlattn.evaluation.annotations import sequence_set
from rlattn.evaluation.results_io import sequence_key


@dataclass(frozen=True)
class TrackerSpec:
    """Everything needed to build a tracker in any process."""

    name: str
    config: TrackerConfig | None = None
    nanotrack_dir: str | None = None

    def build(self):
        if self.name in ("dat", "mdnet"):
            from rlattn.tracker import DATTracker

            cfg = self.config or TrackerConfig()
            return DATTracker(cfg.replace(lam=0.0) if self.name == "mdnet" else cfg)
        from rlattn.peers import OpenCVTracker

        return OpenCVTracker(self.name, self.nanotrack_dir)


@dataclass
class SequenceRef:
    """A sequence to run: its folder, target number (two-target sequences) and result name."""

    key: str
    folder: Path
    target: int | None = None
    frames: int | None = None

    @property
    def result_name(self) -> str:
        return self.folder.name if self.target is None else f"{self.folder.name}-{self.target}"

    def load(self):
        seq = load_otb_sequence(self.folder, target=self.target).truncated(self.frames)
        seq.name = self.result_name
        return seq


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def otb_folder(data_root: Path) -> Path:
    return data_root / "otb" if (data_root / "otb").is_dir() else data_root


def resolve_sequences(
    data_root: Path, dataset: str, names: list[str] | None = None, frames: int | None = None
) -> tuple[list[SequenceRef], list[str]]:
    """The dataset's sequences found under ``data_root`` and the keys that are missing there.

    ``dataset="synthetic"`` first writes the synthetic set under ``data_root/otb`` if needed.
    """
    if dataset == "synthetic":
        from rlattn.datasets.synthetic import make_synthetic_dataset

        make_synthetic_dataset(data_root)
    seq_root = otb_folder(data_root)
    if not seq_root.is_dir():
        raise RlattnError(f"data root not found: {data_root}")
    folders = {sequence_key(d.name): d for d in seq_root.iterdir() if (d / "img").is_dir()}
    if names:
        keys = [sequence_key(n) for n in names]
    else:
        keys = sequence_set(dataset, [data_root / "otb_meta", data_root.parent / "otb_meta", seq_root / "otb_meta"])
    refs, missing = [], []
    for key in keys:
        if key in folders:
            refs.append(SequenceRef(key, folders[key], None, frames))
            continue
        base, _, num = key.rpartition("-")
        if num.isdigit() and base in folders:  # Jogging-1, Skating2-2, Human4-2
            refs.append(SequenceRef(key, folders[base], int(num), frames))
        else:
            missing.append(key)
    return refs, missing


def _failure(exc: Exception) -> str:
    """One line for a failed sequence: our own errors as they are, others with where they arose."""
    if isinstance(exc, RlattnError):
        return str(exc)
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def _run_one(spec: TrackerSpec, ref: SequenceRef, out_dir: Path) -> tuple[str, str | None]:
    from rlattn.results import write_run
    from rlattn.tracking import track_sequence

    try:
        seq = ref.load()
        tracker = spec.build()
        boxes, info = track_sequence(tracker, seq, progress=False)
        info["tracker"] = getattr(tracker, "name", spec.name)
        if spec.config is not None and spec.name in ("dat", "mdnet"):
            info["config"] = tracker.config.to_dict()
        write_run(out_dir, ref.result_name, boxes, info)
        return ref.result_name, None
    except Exception as exc:  # keep going; the message names the sequence and the error
        return ref.result_name, _failure(exc)


def run_experiment(
    spec: TrackerSpec, refs: list[SequenceRef], out_dir: Path, workers: int = 1, progress: bool = True
) -> RunSummary:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary()
    todo = []
    for ref in refs:
        name = ref.result_name
        if (out_dir / f"{name}.txt").is_file() and (out_dir / f"{name}.json").is_file():
            summary.skipped.append(name)
        else:
            todo.append(ref)
    bar = tqdm(total=len(todo), desc=f"{spec.name} sequences", unit="seq", disable=not progress)

    def record(name: str, error: str | None) -> None:
        if error is None:
            summary.done.append(name)
        else:
            summary.failed[name] = error
            tqdm.write(f"failed: {name}: {error}")
        bar.update(1)

    if workers <= 1:
        for ref in todo:
            bar.set_postfix_str(ref.result_name)
            record(*_run_one(spec, ref, out_dir))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_one, spec, ref, out_dir) for ref in todo]
            for fut in as_completed(futures):
                record(*fut.result())
    bar.close()
    return summary


def _run_vot_one(spec: TrackerSpec, folder: Path, out_dir: Path, run: int) -> tuple[str, str | None]:
    from rlattn.datasets import load_vot_sequence
    from rlattn.evaluation.vot import run_supervised, write_vot_result

    name = f"{folder.name}_{run:03d}"
    try:
        seq = load_vot_sequence(folder)
        if spec.config is not None:  # stochastic trackers: a different seed per run
            spec = TrackerSpec(spec.name, spec.config.replace(seed=spec.config.seed + run - 1), spec.nanotrack_dir)
        result = run_supervised(spec.build(), seq)
        write_vot_result(out_dir / folder.name / f"{name}.txt", result)
        return name, None
    except Exception as exc:
        return name, _failure(exc)


def run_vot_experiment(
    spec: TrackerSpec, folders: list[Path], out_dir: Path, runs: int, progress: bool = True
) -> RunSummary:
    """VOT supervised runs ``<out>/<seq>/<seq>_NNN.txt``; finished runs are skipped."""
    summary = RunSummary()
    todo = []
    for folder in folders:
        for run in range(1, runs + 1):
            if (Path(out_dir) / folder.name / f"{folder.name}_{run:03d}.txt").is_file():
                summary.skipped.append(f"{folder.name}_{run:03d}")
            else:
                todo.append((folder, run))
    for folder, run in tqdm(todo, desc=f"{spec.name} VOT runs", unit="run", disable=not progress):
        name, error = _run_vot_one(spec, folder, Path(out_dir), run)
        if error is None:
            summary.done.append(name)
        else:
            summary.failed[name] = error
    return summary


def vot_folders(data_root: Path, names: list[str] | None = None) -> list[Path]:
    root = data_root / "vot" if (data_root / "vot").is_dir() else data_root
    folders = sorted(d for d in root.iterdir() if (d / "groundtruth.txt").is_file()) if root.is_dir() else []
    if names:
        wanted = {n.lower() for n in names}
        folders = [d for d in folders if d.name.lower() in wanted]
    if not folders:
        raise RlattnError(f"no VOT sequences (folders with groundtruth.txt) under {root}")
    return folders
