"""Score result folders over a named OTB set: per-sequence, overall and per-attribute results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rlattn.errors import RlattnError
from rlattn.evaluation.annotations import Annotation, lookup
from rlattn.evaluation.otb import ATTRIBUTES, Protocol, aggregate, evaluate_sequence
from rlattn.evaluation.results_io import find_result_files, read_result_file


@dataclass
class TrackerReport:
    tracker: str
    overall: dict
    per_sequence: dict[str, dict]
    per_attribute: dict[str, dict]
    fps: float | None
    problems: list[str] = field(default_factory=list)


def evaluate_folder(
    folder: Path,
    annotations: dict[str, Annotation],
    keys: list[str],
    protocol: Protocol = "otb",
    tracker: str | None = None,
    frames: int | None = None,
) -> TrackerReport:
    """Evaluate one tracker's results folder on the sequences ``keys``.

    ``frames`` scores only each sequence's first ``frames`` annotated frames (for runs made with
    ``--frames``); the result files may be longer.

    Missing sequences, files with the wrong number of boxes, and unreadable files are collected
    in ``problems`` (with the file named) and left out, so one bad file does not hide the rest.
    """
    files = find_result_files(folder)
    per_seq, problems, fps = {}, [], []
    for key in keys:
        anno = lookup(annotations, key)
        if anno is None:
            problems.append(f"{key}: no ground truth")
            continue
        if key not in files:
            problems.append(f"{key}: no result file in {folder}")
            continue
        try:
            res = read_result_file(files[key])
        except RlattnError as exc:
            problems.append(str(exc))
            continue
        gt = anno.boxes[res.offset(anno.first_frame) :]
        if frames:
            gt = gt[:frames]
        boxes, n = res.boxes, len(gt)
        if len(boxes) < n:
            # the toolkit scores results.len frames; far too short means a broken file
            if len(boxes) < n / 2:
                problems.append(f"{files[key].name}: {len(boxes)} boxes for {n} annotated frames (left out)")
                continue
            problems.append(
                f"{files[key].name}: {len(boxes)} boxes for {n} annotated frames (scored over {len(boxes)})"
            )
            gt, n = gt[: len(boxes)], len(boxes)
        nan_rows = int(np.isnan(boxes[1:n]).any(axis=1).sum())
        if nan_rows == n - 1 and n > 1:
            problems.append(f"{files[key].name}: every box is NaN")
            continue
        if nan_rows:
            problems.append(f"{files[key].name}: {nan_rows} NaN boxes (each replaced by the previous box)")
        inf_rows = int(np.isinf(boxes[1:n]).any(axis=1).sum())
        if inf_rows:
            problems.append(f"{files[key].name}: {inf_rows} boxes with infinite values (scored as misses)")
        per_seq[key] = evaluate_sequence(boxes[:n], gt, protocol)  # longer results: the toolkit truncates
        per_seq[key]["attributes"] = anno.attributes
        if res.fps:
            fps.append(res.fps)
    if not per_seq:
        raise RlattnError(f"no usable results in {folder}: " + "; ".join(problems[:3]))
    return make_report(tracker or Path(folder).name, per_seq, float(np.mean(fps)) if fps else None, problems)


def make_report(tracker: str, per_seq: dict[str, dict], fps: float | None, problems: list[str]) -> TrackerReport:
    """A report from per-sequence scores (each with its ``attributes``): overall and per attribute."""
    per_attr = {}
    for attr in ATTRIBUTES:
        subset = {k: r for k, r in per_seq.items() if attr in r["attributes"]}
        if subset:
            per_attr[attr] = aggregate(subset)
    return TrackerReport(tracker, aggregate(per_seq), per_seq, per_attr, fps, problems)
