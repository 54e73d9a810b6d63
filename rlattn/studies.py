"""The project's committed studies as named objects: one tracker configuration over a set of
targets and seeds, whose results live in one folder under ``data/results/otb``.

A chapter, the ledger and the README ask for a study by name (``STUDIES["fast-lambda5"]``) and get
its scores on the targets every counted seed holds, or how far it has got ("n of m targets ×
seeds done") while it is being run; a half-finished study is never scored as if it were complete.
The folder names are fixed by the configuration's hash: ``tests/test_studies.py`` pins them, so a
change that would rename a committed folder fails there rather than orphan its results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlattn.config import TrackerConfig
from rlattn.errors import RlattnError
from rlattn.evaluation.annotations import Annotation
from rlattn.evaluation.results_io import sequence_key
from rlattn.evaluation.seeds import SeedReport, evaluate_seeds, seed_folders
from rlattn.experiments import TrackerSpec, results_folder

# The 22 OTB sequences (23 targets) every machine of the project has: the shared set.
SHARED_TARGETS: tuple[str, ...] = (
    "Bird1", "Bird2", "Car4", "CarScale", "Couple", "Crossing", "David", "Deer", "Diving", "Dog1",
    "DragonBaby", "FaceOcc1", "Football", "Freeman1", "Girl", "Human7", "Jogging-1", "Jogging-2",
    "Jumping", "MotorRolling", "Skiing", "Soccer", "Toy",
)  # fmt: skip
# The six shortest of them: where the costly configurations were measured first (picked by cost).
SHORT_TARGETS: tuple[str, ...] = ("Deer", "Skiing", "Bird2", "DragonBaby", "Crossing", "Couple")
RESULTS_ROOT = Path("data/results/otb")


@dataclass(frozen=True)
class Study:
    """A tracker configuration run on ``targets`` × ``seeds`` (whole sequences unless ``frames``)."""

    name: str
    label: str  # how a table names it
    spec: TrackerSpec
    seeds: tuple[int, ...]
    targets: tuple[str, ...] = SHARED_TARGETS
    frames: int | None = None

    @property
    def mode(self) -> str:
        return self.spec.effective_config().mode

    def folder(self, results_root: Path = RESULTS_ROOT) -> Path:
        return results_folder(results_root, self.spec, self.frames, legacy=False)

    def keys(self, targets: tuple[str, ...] | list[str] | None = None) -> list[str]:
        return [sequence_key(t) for t in (self.targets if targets is None else targets)]

    def command(self, results_root: Path = RESULTS_ROOT) -> str:
        """The ``rlattn run`` that makes (or resumes) this study."""
        cfg = self.spec.effective_config()
        paper = TrackerConfig().replace(mode=cfg.mode)
        parts = [f"rlattn run --tracker {self.spec.name} --mode {cfg.mode}"]
        if cfg.lam:
            parts.append(f"--lambda {cfg.lam:g}")
        if cfg.reg_weighting != paper.reg_weighting:
            parts.append(f"--reg-weighting {cfg.reg_weighting}")
        if cfg.attention_map != paper.attention_map:
            parts.append(f"--attention-map {cfg.attention_map}")
        if cfg.reg_samples != paper.reg_samples:
            parts.append(f"--reg-samples {cfg.reg_samples}")
        if cfg.backbone != paper.backbone:
            parts.append(f"--backbone {cfg.backbone}")
        if self.frames:
            parts.append(f"--frames {self.frames}")
        seeds = sorted(self.seeds)
        span = f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds))
        parts.append(f"--seeds {span} --sequences {','.join(self.targets)} --results-root {results_root}")
        return " ".join(parts)


def _spec(tracker: str, mode: str = "fast", **changes) -> TrackerSpec:
    return TrackerSpec(tracker, TrackerConfig().replace(mode=mode, **changes))


_FIVE, _THREE = (0, 1, 2, 3, 4), (0, 1, 2)
STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study("fast-lambda0", "MDNet (λ = 0), fast", _spec("mdnet"), _FIVE),
        Study("fast-lambda5", "DAT (λ = 5), fast", _spec("dat", lam=5.0), _FIVE),
        Study("fast-attfeat", "attentive features, fast", _spec("attfeat"), _THREE),
        Study(
            "fast-relative1", "R's gradient at 1 × CE's, fast", _spec("dat", lam=1.0, reg_weighting="relative"), _THREE
        ),
        Study(
            "fast-energy5",
            "λ = 5 on the first-layer energy map, fast",
            _spec("dat", lam=5.0, attention_map="first_layer_energy"),
            _THREE,
        ),
        Study(
            "fast-lambda5-32",
            "λ = 5, 32 samples carry R, fast",
            _spec("dat", lam=5.0, reg_samples=32),
            _THREE,
            SHORT_TARGETS,
        ),
        Study("fast-lite1", "Lite1 (λ = 0), fast", _spec("mdnet", backbone="efficientnet_lite1"), _THREE),
        Study("fast-lite2", "Lite2 (λ = 0), fast", _spec("mdnet", backbone="efficientnet_lite2"), _THREE),
        Study(
            "fast-lite0-s8", "Lite0 at stride 8 (λ = 0), fast", _spec("mdnet", backbone="efficientnet_lite0_s8"), _THREE
        ),
        Study("exact-lambda0", "MDNet (λ = 0), exact", _spec("mdnet", "exact"), _THREE),
        Study("exact-lambda5", "DAT (λ = 5), exact", _spec("dat", "exact", lam=5.0), _THREE),
        Study(
            "exact-relative1",
            "R's gradient at 1 × CE's, exact",
            _spec("dat", "exact", lam=1.0, reg_weighting="relative"),
            _THREE,
        ),
    )
}


def get_study(name: str) -> Study:
    try:
        return STUDIES[name]
    except KeyError:
        raise RlattnError(f"unknown study {name!r}; known: {', '.join(STUDIES)}") from None


@dataclass
class StudyScores:
    """A study's state on the targets asked for: ``report`` holds the seeds that hold every one of
    them (None while no seed does); ``done`` counts target × seed results present."""

    study: Study
    targets: tuple[str, ...]
    report: SeedReport | None
    done: int
    problems: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.targets) * len(self.study.seeds)

    @property
    def complete(self) -> bool:
        return self.report is not None and set(self.report.seeds) >= set(self.study.seeds)

    @property
    def status(self) -> str:
        if self.done == 0:
            return "not run"
        if self.complete:
            return "complete"
        return f"{self.done} of {self.total} runs done ({len(self.targets)} targets × {len(self.study.seeds)} seeds)"


def load_study(
    study: Study | str,
    annotations: dict[str, Annotation],
    results_root: Path = RESULTS_ROOT,
    targets: tuple[str, ...] | list[str] | None = None,
) -> StudyScores:
    """Score a study's committed seeds that hold every target asked for (default: the study's)."""
    study = get_study(study) if isinstance(study, str) else study
    targets = tuple(study.targets if targets is None else targets)
    keys = study.keys(targets)
    folder = study.folder(results_root)
    present = {}  # seed: how many of the targets it holds
    if folder.is_dir():
        present = {
            seed: sum((path / f"{t}.txt").is_file() for t in targets)
            for seed, path in seed_folders(folder).items()
            if seed in study.seeds
        }
    done = sum(present.values())
    if done == 0:
        return StudyScores(study, targets, None, 0)
    whole = [s for s, n in present.items() if n == len(targets)]
    if not whole:
        return StudyScores(study, targets, None, done)
    report = evaluate_seeds(folder, annotations, keys, tracker=study.label, frames=study.frames, seeds=whole)
    if len(report.targets) < len(keys):  # a result file that does not score (named in problems)
        return StudyScores(study, targets, None, done, report.problems)
    return StudyScores(study, targets, report, done, report.problems)
