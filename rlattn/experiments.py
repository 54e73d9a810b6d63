"""Experiments as tasks: one per (tracker configuration, sequence[, VOT run]), resumable.

Each finished sequence leaves ``<out>/<seq>.txt`` (boxes) and ``<out>/<seq>.json`` (timing and
config), written atomically; a later run with the same output folder skips them. A results folder
belongs to one configuration: ``<out>/rlattn-config.json`` records its hash, and a run with a
different configuration refuses to write there, so results of different configs never mix.
The tasks run wherever :func:`rlattn.executors.execute` sends them (here, a process pool, Dask).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from rlattn.allocator import keep_large_allocations
from rlattn.checkpoints import Checkpoint, checkpoint_path
from rlattn.config import DAT_VARIANTS, TrackerConfig
from rlattn.datasets.otb import load_otb_sequence
from rlattn.errors import RlattnError
from rlattn.evaluation.annotations import sequence_set
from rlattn.evaluation.results_io import sequence_key
from rlattn.executors import RunSummary, TaskOutcome, describe_failure, execute
from rlattn.machine import cpu_description, source_commit

MANIFEST = "rlattn-config.json"
# a killed run loses at most this much of a sequence's tracking (rlattn.checkpoints)
DEFAULT_CHECKPOINT_SECONDS = 600.0
# fields that change where or how fast a run goes, not what it computes; the seed is a dimension of
# a configuration's results (``<folder>/seed<N>/``), not part of the configuration
_NOT_HASHED = ("device", "extra", "seed")
# fields added after results were made, left out of the hash at their default so that those
# results' hashes (and folder names) stay valid
_HASHED_IF_SET = {
    "feature_attention": False,
    "feature_attention_lr_mult": 10.0,
    "mining_precision": "float32",
    "attention_map": "input",
    "reg_reduction": "sum",
    "reg_weighting": "fixed",
}


@dataclass(frozen=True)
class TrackerSpec:
    """Everything needed to build a tracker in any process."""

    name: str
    config: TrackerConfig | None = None
    nanotrack_dir: str | None = None

    def __post_init__(self) -> None:
        # One name per computation: DAT with λ = 0 is MDNet, and MDNet with feature attention is
        # attfeat, so that equal runs share one hash and one results folder whatever they were called.
        cfg = self.effective_config()
        if cfg is not None and cfg.lam == 0:
            object.__setattr__(self, "name", "attfeat" if cfg.feature_attention else "mdnet")

    def build(self):
        if self.name in DAT_VARIANTS:
            from rlattn.tracker import DATTracker

            return DATTracker(self.effective_config())
        from rlattn.peers import OpenCVTracker

        return OpenCVTracker(self.name, self.nanotrack_dir)

    def effective_config(self) -> TrackerConfig | None:
        if self.name not in DAT_VARIANTS:
            return None
        cfg = self.config or TrackerConfig()
        if self.name == "mdnet":
            cfg = cfg.replace(lam=0.0)
        elif self.name == "attfeat":
            cfg = cfg.replace(lam=0.0, feature_attention=True)
        if cfg.lam == 0 and (cfg.attention_map, cfg.reg_reduction, cfg.reg_weighting) != ("input", "sum", "fixed"):
            # no regulariser: the same computation
            cfg = cfg.replace(attention_map="input", reg_reduction="sum", reg_weighting="fixed")
        return cfg

    def describe(self, frames: int | None = None, with_seed: bool = False) -> dict:
        """What defines this configuration's results (the hash is taken over exactly this).

        ``with_seed`` gives the description of results made before seeds became a dimension, whose
        hash included the seed (so that their folders are still recognised).
        """
        cfg = self.effective_config()
        config = None
        if cfg is not None:
            skip = tuple(k for k in _NOT_HASHED if not (with_seed and k == "seed"))
            config = {
                k: v
                for k, v in cfg.to_dict().items()
                if k not in skip and not (k in _HASHED_IF_SET and v == _HASHED_IF_SET[k])
            }
        return {"tracker": self.name, "frames": frames, "config": config}

    def config_hash(self, frames: int | None = None, with_seed: bool = False) -> str:
        text = json.dumps(self.describe(frames, with_seed), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def with_seed(self, seed: int) -> TrackerSpec:
        """The same configuration with another seed (OpenCV peers are deterministic: unchanged)."""
        if self.effective_config() is None:
            return self
        return dataclasses.replace(self, config=(self.config or TrackerConfig()).replace(seed=seed))

    @property
    def seed(self) -> int | None:
        cfg = self.effective_config()
        return None if cfg is None else cfg.seed

    @property
    def label(self) -> str:
        """A readable name: ``csrt``, ``dat_fast_lambda5``, ``mdnet_exact_lambda0``, ``attfeat_fast_lambda0``."""
        cfg = self.effective_config()
        if cfg is None:
            return self.name
        af = "_af" if cfg.feature_attention and self.name == "dat" else ""
        return f"{self.name}{af}_{cfg.mode}_lambda{cfg.lam:g}"


def results_folder(root: Path, spec: TrackerSpec, frames: int | None = None, legacy: bool = True) -> Path:
    """``root/<label>-<hash>``: a folder only this configuration's results can live in, so a notebook
    run again with the same parameters finds (and skips) what it computed before.

    With ``legacy`` and no such folder yet, a folder of the same configuration made when the hash
    still included the seed (one seed, files directly inside) is returned instead, if there is one.
    """
    folder = Path(root) / f"{spec.label}-{spec.config_hash(frames)}"
    old = legacy_results_folder(root, spec, frames)
    return old if legacy and not folder.exists() and old.is_dir() else folder


def legacy_results_folder(root: Path, spec: TrackerSpec, frames: int | None = None) -> Path:
    """Where this configuration's one-seed results were put before seeds became a dimension (the
    hash then included the seed; the files lie directly inside)."""
    return Path(root) / f"{spec.label}-{spec.config_hash(frames, with_seed=True)}"


def seed_folder(folder: Path, seed: int) -> Path:
    """Where one seed of a configuration's results lives: ``<folder>/seed<N>``."""
    return Path(folder) / f"seed{seed}"


def claim_folder(out_dir: Path, spec: TrackerSpec, frames: int | None = None) -> str:
    """Make ``out_dir`` the home of this configuration's results; refuse one that holds another's.

    Returns the hash that the folder's result files carry: the configuration's, or, for a folder
    made before seeds became a dimension, its old hash that included the seed. The manifest is
    created in one step that fails when it exists, so of two runs started together into one folder
    only one can claim it; the other then reads its manifest like any later run.
    """
    from rlattn.results import create_exclusive

    out_dir = Path(out_dir)
    digest = spec.config_hash(frames)
    path = out_dir / MANIFEST
    if path.is_dir() or (out_dir.exists() and not out_dir.is_dir()):
        raise RlattnError(f"{out_dir} is not a results folder (a file, or {MANIFEST} is a folder)")
    manifest = json.dumps({"config_hash": digest, **spec.describe(frames)}, indent=1, default=str) + "\n"
    if not path.exists() and create_exclusive(path, manifest):
        return digest
    old = read_manifest(path)
    if old.get("config_hash") == spec.config_hash(frames, with_seed=True):
        return old["config_hash"]
    if old.get("config_hash") != digest:
        raise RlattnError(
            f"{out_dir} holds results of another configuration ({_difference(old, spec.describe(frames))}); "
            "give another --out, or delete the folder"
        )
    return digest


def read_manifest(path: Path) -> dict:
    """A results folder's ``rlattn-config.json`` as a dict; a one-line error for anything else."""
    try:
        old = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        old = None
    if not isinstance(old, dict):
        raise RlattnError(
            f"{path} is not a configuration manifest (a JSON object); delete it if the folder's results are yours"
        )
    return old


def _difference(old: dict, new: dict) -> str:
    """Every field in which two manifests differ, compared as JSON (lists and tuples alike)."""
    new = json.loads(json.dumps(new, default=str))
    if old.get("tracker") != new["tracker"]:
        return f"tracker {old.get('tracker')} there, {new['tracker']} here"
    if old.get("frames") != new["frames"]:
        return f"frames {old.get('frames')} there, {new['frames']} here"
    a, b = old.get("config") or {}, new["config"] or {}
    diffs = [f"{k} {a.get(k)!r} there, {b.get(k)!r} here" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return "; ".join(diffs) or "a different hash"


@dataclass(frozen=True)
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


def _provenance() -> dict:
    """Where and with what a result was made (a result file must say which machine made it)."""
    from datetime import UTC, datetime
    from importlib.metadata import version

    import torch

    return {
        "host": socket.gethostname(),
        "machine": cpu_description(),
        "commit": source_commit(),
        "torch_threads": torch.get_num_threads(),
        "allocator": keep_large_allocations(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "rlattn": version("rlattn"),
        "torch": torch.__version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _outcome(
    label: str,
    start: float,
    error: str | None = None,
    fps: float | None = None,
    busy: bool = False,
    found: bool = False,
) -> TaskOutcome:
    return TaskOutcome(label, error, time.perf_counter() - start, fps, socket.gethostname(), os.getpid(), busy, found)


def _run_once(task, lock: Path) -> TaskOutcome:
    """Run ``task._track`` unless another process is running it (``busy``) or its result is there."""
    from rlattn.results import exclusive

    start = time.perf_counter()
    with exclusive(lock) as mine:
        if not mine:
            # another run tracks this sequence into the same folder right now
            return _outcome(task.label, start, busy=True)
        if task.finished():
            # already there: another run of the same folder, or Dask recomputing a result it lost
            # with a dead worker, must not redo (and rewrite) finished work, nor count it as done
            return _outcome(task.label, start, found=True)
        return task._track(start)


@dataclass(frozen=True)
class SequenceTask:
    """One OTB-style run: a tracker configuration over one sequence, into ``out_dir``."""

    spec: TrackerSpec
    ref: SequenceRef
    out_dir: Path
    config_hash: str
    tag: str = ""  # prefixes the label when one command runs several configurations
    # how often a long sequence saves a checkpoint to resume from after a kill (0: never)
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS

    @property
    def label(self) -> str:
        return f"{self.tag}/{self.ref.result_name}" if self.tag else self.ref.result_name

    def finished(self) -> bool:
        """Whether this configuration's result is there: a ``.txt`` and a ``.json`` that names this
        configuration's hash (a file that names none, such as ``rlattn track``'s, is no run's)."""
        name = self.ref.result_name
        txt, js = self.out_dir / f"{name}.txt", self.out_dir / f"{name}.json"
        if not (txt.is_file() and js.is_file()):
            return False
        try:
            info = json.loads(js.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False
        return isinstance(info, dict) and info.get("config_hash") == self.config_hash

    def __call__(self) -> TaskOutcome:
        return _run_once(self, self.out_dir / f".{self.ref.result_name}.lock")

    def _track(self, start: float) -> TaskOutcome:
        from rlattn.results import write_run
        from rlattn.tracking import track_sequence

        try:
            seq = self.ref.load()
            tracker = self.spec.build()
            checkpoint = None
            if self.checkpoint_seconds > 0:
                key = {
                    "config_hash": self.config_hash,
                    "sequence": self.ref.result_name,
                    "frames": len(seq),
                    "seed": self.spec.seed,
                    "folder": str(Path(self.out_dir).resolve()),
                }
                note = {k: str(v) for k, v in _provenance().items() if k in ("host", "machine", "commit", "torch")}
                path = checkpoint_path(self.out_dir, self.ref.result_name)
                checkpoint = Checkpoint(path, key, self.checkpoint_seconds, note)
            boxes, info = track_sequence(tracker, seq, progress=False, checkpoint=checkpoint)
            info["tracker"] = getattr(tracker, "name", self.spec.name)
            info["config_hash"] = self.config_hash
            info["run"] = _provenance()
            cfg = self.spec.effective_config()
            if cfg is not None:
                info["config"] = cfg.to_dict()
            write_run(self.out_dir, self.ref.result_name, boxes, info)
            if checkpoint is not None:
                checkpoint.remove()
            return _outcome(self.label, start, fps=info.get("fps"))
        except Exception as exc:  # reported once, never retried: the same data would fail again
            return _outcome(self.label, start, describe_failure(exc))


@dataclass(frozen=True)
class VotRunTask:
    """One VOT supervised run ``<out>/<seq>/<seq>_NNN.txt``; stochastic trackers get seed + run − 1."""

    spec: TrackerSpec
    folder: Path
    run: int
    out_dir: Path
    tag: str = ""
    groundtruth: Path | None = None  # another annotation of the same frames (VOT-2016's for ball1)

    @property
    def name(self) -> str:
        return f"{self.folder.name}_{self.run:03d}"

    @property
    def label(self) -> str:
        return f"{self.tag}/{self.name}" if self.tag else self.name

    @property
    def path(self) -> Path:
        return self.out_dir / self.folder.name / f"{self.name}.txt"

    def finished(self) -> bool:
        return self.path.is_file()

    def __call__(self) -> TaskOutcome:
        return _run_once(self, self.path.parent / f".{self.name}.lock")

    def _track(self, start: float) -> TaskOutcome:
        from rlattn.datasets import load_vot_sequence
        from rlattn.evaluation.vot import run_supervised, write_vot_result

        try:
            seq = load_vot_sequence(self.folder, self.groundtruth)
            spec = self.spec
            if spec.config is not None:
                spec = dataclasses.replace(spec, config=spec.config.replace(seed=spec.config.seed + self.run - 1))
            write_vot_result(self.path, run_supervised(spec.build(), seq))
            return _outcome(self.label, start)
        except Exception as exc:
            return _outcome(self.label, start, describe_failure(exc))


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


def frames_limit(refs: list[SequenceRef]) -> int | None:
    """The ``--frames`` limit the refs share (part of a configuration's identity)."""
    frames = {r.frames for r in refs}
    return frames.pop() if len(frames) == 1 else None


def sequence_tasks(
    spec: TrackerSpec, refs: list[SequenceRef], out_dir: Path, tag: str = "", seeds: list[int] | None = None
) -> list[SequenceTask]:
    """The tasks of one configuration over ``refs`` (claims ``out_dir`` for it).

    Without ``seeds`` the results go into ``out_dir`` itself (one seed, the spec's own); with
    ``seeds`` each seed's go into :func:`seed_folder` ``(out_dir, seed)``.
    """
    frames = frames_limit(refs)
    digest = claim_folder(out_dir, spec, frames)
    if seeds is not None and digest != spec.config_hash(frames):
        raise RlattnError(
            f"{out_dir} holds one seed's results made before seeds became a dimension (its hash includes the "
            "seed); --seeds writes seed<N>/ folders into a folder of its own: use --results-root or another --out"
        )
    if seeds is None:
        _refuse_other_seed(Path(out_dir), spec.seed)
        return [SequenceTask(spec, ref, Path(out_dir), digest, tag) for ref in refs]
    return [
        SequenceTask(spec.with_seed(s), ref, seed_folder(out_dir, s), digest, "/".join(filter(None, [tag, f"seed{s}"])))
        for s in seeds
        for ref in refs
    ]


def _refuse_other_seed(out_dir: Path, seed: int | None) -> None:
    """A one-seed folder holds one seed: the hash leaves the seed out, so without this check a run
    with another ``--seed`` would take the first seed's files for its own."""
    if seed is None or not out_dir.is_dir():
        return
    for path in out_dir.glob("*.json"):
        if path.name == MANIFEST:
            continue
        try:
            other = (json.loads(path.read_text()).get("config") or {}).get("seed")
        except (json.JSONDecodeError, AttributeError):
            continue
        if other is not None and other != seed:
            raise RlattnError(
                f"{out_dir} holds results of seed {other}, not {seed}; give another --out, or run several "
                f"seeds with --seeds {other},{seed} (each into its own seed<N>/ folder)"
            )


def interleave(groups: list[list]) -> list:
    """Tasks of several configurations round-robin (each group in its seed, sequence order), so
    that a run stopped part-way leaves whole pairs: every configuration on the same targets and
    seeds."""
    return [t for row in itertools.zip_longest(*groups) for t in row if t is not None]


def vot_tasks(
    spec: TrackerSpec, folders: list[Path], out_dir: Path, runs: int, tag: str = "", data_root: Path | None = None
) -> list[VotRunTask]:
    """The runs of one configuration over VOT folders; a sequence whose VOT-2016 annotation is under
    ``<data_root>/vot2016_annotations`` is run against that one (see ``vot2016_groundtruth``)."""
    from rlattn.datasets.vot import vot2016_groundtruth

    claim_folder(out_dir, spec)
    return [
        VotRunTask(spec, f, r, Path(out_dir), tag, vot2016_groundtruth(data_root, f.name))
        for f in folders
        for r in range(1, runs + 1)
    ]


def _held_hash(folder: Path, spec: TrackerSpec, frames: int | None = None) -> str | None:
    """The hash under which ``folder`` holds this configuration's results (its own, or the older one
    that included the seed), read without claiming the folder; None when it is not its folder."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        digest = read_manifest(path).get("config_hash")
    except RlattnError:
        return None
    return digest if digest in (spec.config_hash(frames), spec.config_hash(frames, with_seed=True)) else None


def holds_results(folder: Path, spec: TrackerSpec, refs: list[SequenceRef], seeds: list[int] | None = None) -> bool:
    """Whether ``folder`` already holds this configuration's result of every sequence (in every
    seed's subfolder), as the runner would find them (:meth:`SequenceTask.finished`)."""
    digest = _held_hash(folder, spec, frames_limit(refs))
    if digest is None:
        return False
    dirs = [Path(folder)] if seeds is None else [seed_folder(folder, s) for s in seeds]
    return all(SequenceTask(spec, r, d, digest).finished() for d in dirs for r in refs)


def holds_vot_runs(folder: Path, spec: TrackerSpec, seq_folders: list[Path], runs: int) -> bool:
    """Whether ``folder`` already holds this configuration's ``runs`` VOT runs of every sequence,
    read without claiming it (:func:`vot_tasks` would create a missing folder)."""
    if _held_hash(folder, spec) is None:
        return False
    return all(VotRunTask(spec, f, r, Path(folder)).finished() for f in seq_folders for r in range(1, runs + 1))


def staged_copy(committed: Path, scratch: Path) -> Path:
    """``scratch`` holding every file of ``committed`` it lacks (hard links where the file system
    allows, else copies), so that a run there reuses the committed results and writes only beside
    them, never into ``committed``."""
    import shutil

    if committed.is_dir():
        for src in committed.rglob("*"):
            dest = scratch / src.relative_to(committed)
            if src.is_dir() or dest.exists() or src.name.startswith("."):
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copy2(src, dest)
    return scratch


def run_configs(
    specs: dict[str, TrackerSpec],
    refs: list[SequenceRef],
    results_root: Path,
    progress: bool = True,
    seeds: list[int] | None = None,
    scratch_root: Path | None = None,
    **backend,
) -> tuple[dict[str, Path], RunSummary]:
    """Each named configuration over ``refs``, in one batch of tasks (one Dask submission), each into
    its own :func:`results_folder` under ``results_root`` (with ``seeds``: its ``seed<N>/``
    subfolders); results found there are reused.

    With ``scratch_root``, ``results_root`` is only read: a configuration whose folder there holds
    every result is scored from it, any other runs in its folder under ``scratch_root``, which
    starts with the committed results it has (so a chapter rerun with other parameters never
    writes into the committed results)."""
    frames = frames_limit(refs)
    folders = {name: results_folder(results_root, spec, frames) for name, spec in specs.items()}
    if scratch_root is not None:
        for name, folder in folders.items():
            if not holds_results(folder, specs[name], refs, seeds):
                folders[name] = staged_copy(folder, Path(scratch_root) / folder.name)
    groups = [sequence_tasks(spec, refs, folders[name], tag=name, seeds=seeds) for name, spec in specs.items()]
    return folders, execute(interleave(groups), progress=progress, desc="tasks", **backend)


def run_experiment(
    spec: TrackerSpec,
    refs: list[SequenceRef],
    out_dir: Path,
    workers: int = 1,
    progress: bool = True,
    **backend,
) -> RunSummary:
    """Run one configuration over ``refs``; ``backend``: ``scheduler=``/``client=``/``gpu=`` (see ``execute``)."""
    tasks = sequence_tasks(spec, refs, out_dir)
    return execute(tasks, workers=workers, progress=progress, desc=f"{spec.name} sequences", **backend)


def vot_folders(data_root: Path, names: list[str] | None = None) -> list[Path]:
    root = data_root / "vot" if (data_root / "vot").is_dir() else data_root
    folders = sorted(d for d in root.iterdir() if (d / "groundtruth.txt").is_file()) if root.is_dir() else []
    if names:
        wanted = {n.lower() for n in names}
        folders = [d for d in folders if d.name.lower() in wanted]
    if not folders:
        raise RlattnError(f"no VOT sequences (folders with groundtruth.txt) under {root}")
    return folders
