"""A configuration's results over several seeds: find them, score each seed, and set per-target
score matrices beside each other for :mod:`rlattn.evaluation.statistics`.

A results folder holds either one seed's files directly (``<folder>/<seq>.txt``, how every folder
was made before seeds became a dimension, and how other trackers' published results come) or one
subfolder per seed (``<folder>/seed<N>/<seq>.txt``, what ``rlattn run --seeds`` writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rlattn.errors import RlattnError
from rlattn.evaluation.annotations import Annotation
from rlattn.evaluation.benchmark import TrackerReport, evaluate_folder, make_report
from rlattn.evaluation.otb import Protocol
from rlattn.evaluation.statistics import Comparison, Estimate, mean_ci, paired_difference

METRICS = ("auc", "dp20", "cle", "os50")
_SEED = re.compile(r"seed(\d+)$")


def seed_folders(folder: Path) -> dict[int | None, Path]:
    """``{seed: folder}`` of a results folder: its ``seed<N>/`` subfolders, or ``{None: folder}``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RlattnError(f"results folder not found: {folder}")
    seeds = {int(m.group(1)): p for p in folder.iterdir() if p.is_dir() and (m := _SEED.match(p.name))}
    return dict(sorted(seeds.items())) if seeds else {None: folder}


def seeds_label(seeds: list[int | None]) -> str:
    """How a table names the seeds it averaged: ``seed 0``, ``seeds 0–4``, ``seeds 0, 2, 5``, or
    ``one seed`` for a folder made before seeds became a dimension (its seed unnumbered)."""
    numbered = sorted(s for s in seeds if s is not None)
    if len(numbered) < len(seeds):
        return "one seed" if len(seeds) == 1 else f"{len(seeds)} seeds"
    if len(numbered) == 1:
        return f"seed {numbered[0]}"
    if numbered == list(range(numbered[0], numbered[-1] + 1)):
        return f"seeds {numbered[0]}–{numbered[-1]}"
    return "seeds " + ", ".join(map(str, numbered))


@dataclass
class SeedReport:
    """One configuration scored seed by seed (``reports[seed]``) on the targets every seed has."""

    tracker: str
    folder: Path
    reports: dict[int | None, TrackerReport]
    targets: list[str]  # scored in every seed
    problems: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int | None]:
        return list(self.reports)

    def matrix(self, metric: str = "auc", targets: list[str] | None = None) -> np.ndarray:
        """``(seeds, targets)`` scores of one metric (``targets`` default: those every seed has)."""
        targets = self.targets if targets is None else targets
        return np.array([[r.per_sequence[t][metric] for t in targets] for r in self.reports.values()])

    def summary(self, metric: str = "auc", **kw) -> Estimate:
        return mean_ci(self.matrix(metric), **kw)

    def pooled(self) -> TrackerReport:
        """One report whose per-target curves and scores are means over the seeds (for plots and
        for a single table row); a one-seed folder gives its own report."""
        if len(self.reports) == 1:
            return next(iter(self.reports.values()))
        reps = list(self.reports.values())
        per_seq = {}
        for t in self.targets:
            rows = [r.per_sequence[t] for r in reps]
            per_seq[t] = {k: np.mean([row[k] for row in rows], axis=0) for k in rows[0] if k != "attributes"}
            per_seq[t]["attributes"] = rows[0]["attributes"]
        return make_report(f"{self.tracker} ({len(reps)} seeds)", per_seq, self.fps, self.problems)

    @property
    def fps(self) -> float | None:
        values = [r.fps for r in self.reports.values() if r.fps]
        return float(np.mean(values)) if values else None


def evaluate_seeds(
    folder: Path,
    annotations: dict[str, Annotation],
    keys: list[str],
    protocol: Protocol = "otb",
    tracker: str | None = None,
    frames: int | None = None,
    seeds: list[int] | None = None,
) -> SeedReport:
    """Score every seed (or those in ``seeds``) of a results folder over the same targets.

    Seeds that lack targets another seed has are left out while at least one seed has them all
    (a study in progress); otherwise targets missing in some seed are left out of all. Either is
    named in ``problems``.
    """
    folder = Path(folder)
    name = tracker or folder.name
    reports: dict[int | None, TrackerReport] = {}
    problems: list[str] = []
    begun: list[int | None] = []  # seed folders without a result yet: a seed the runner has just started
    for seed, path in seed_folders(folder).items():
        if seeds is not None and seed not in seeds:
            continue
        try:
            report = evaluate_folder(path, annotations, keys, protocol, name, frames)
        except RlattnError as exc:
            if not any(path.glob("*.txt")):
                begun.append(seed)
            else:
                problems.append(f"seed {seed}: {exc}")
            continue
        reports[seed] = report
        prefix = "" if seed is None else f"seed {seed}: "
        # missing files are summed up below, once for all seeds, in terms of the targets that matter
        problems += [prefix + p for p in report.problems if ": no result file in " not in p]
    if not reports:
        if begun and not problems:
            problems.append("no seed holds a result yet")
        raise RlattnError(f"no usable results in {folder}: " + "; ".join(problems[:3]))
    found = [k for k in keys if any(k in r.per_sequence for r in reports.values())]
    problems += [f"seed {s} is incomplete (0 of {len(found)} targets): left out" for s in begun]
    absent = [k for k in keys if k not in found]
    if absent:  # e.g. a study of 23 targets scored against OTB-100's annotations
        listed = ": " + ", ".join(absent) if len(absent) <= 10 else " (a subset was run)"
        problems.append(f"{len(absent)} of {len(keys)} target(s) have no result in any seed{listed}")
    # a seed still being run (or cut short) holds fewer targets: rather than shrink every seed to
    # its targets, leave it out while some seed has them all
    complete = {s: r for s, r in reports.items() if all(k in r.per_sequence for k in found)}
    if complete and len(complete) < len(reports):
        for s in reports.keys() - complete.keys():
            n = sum(k in reports[s].per_sequence for k in found)
            problems.append(f"seed {s} is incomplete ({n} of {len(found)} targets): left out")
        reports = complete
    common = [k for k in found if all(k in r.per_sequence for r in reports.values())]
    partial = [k for k in found if k not in common]
    if partial:
        problems.append(
            f"{len(partial)} target(s) not in every seed, left out of the seed statistics: " + ", ".join(partial)
        )
    return SeedReport(name, folder, reports, common, problems)


def compare(a: SeedReport, b: SeedReport, metric: str = "auc", **kw) -> Comparison:
    """Paired ``a − b`` over the targets both have in every seed (see ``paired_difference``)."""
    targets = [t for t in a.targets if t in set(b.targets)]
    if not targets:
        raise RlattnError(f"{a.tracker} and {b.tracker} share no target")
    cmp = paired_difference(a.matrix(metric, targets), b.matrix(metric, targets), targets, **kw)
    dropped = sorted(set(a.targets) ^ set(b.targets))
    if dropped:
        cmp.notes.append(f"compared on the {len(targets)} shared targets; not in both: {', '.join(dropped)}")
    return cmp
