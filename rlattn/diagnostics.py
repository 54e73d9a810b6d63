"""Why the tracker does what it does, measured.

**Gradient balance** (why λ hurts): the cross-entropy's and the regulariser's gradients.

A tracker with ``record_gradients = True`` writes, for every SGD step, the norms over fc4–fc6 of
``∇CE`` and ``∇(λ Σ R)`` before clipping, their cosine and whether clipping at ``grad_clip`` fired
(:func:`rlattn.training.train_classifier`). The functions here turn those records into what the
question needs: how large the regulariser's gradient is against the cross-entropy's, and how much
of the cross-entropy's step survives the clipping that the two share. Pure functions over the
history, plus :func:`record_gradient_balance` that makes one.

**The online update** (why the λ = 0 baseline loses targets): :func:`update_diagnosis` tracks a
sequence while scoring the true box at every frame (is the target still what the classifier likes
most?) and, with ``oracle=True``, draws every update's new training samples around the true box
instead of the tracker's own estimate. A target that the oracle run keeps was lost to the update
learning its own drift; one that it loses too is one the classifier cannot tell from the
background with these features. ``python -m rlattn.diagnostics updates …`` runs it over targets and
seeds into a JSON file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rlattn.config import TrackerConfig

FIELDS = ("grad_ce", "grad_reg", "grad_cosine", "grad_total", "clipped")


def balance_arrays(history: Iterable[dict], stage: str | None = None) -> dict[str, np.ndarray]:
    """The recorded steps (of one ``stage``: ``"init"``, ``"long"``, ``"short"``; None = all) as arrays,
    with ``ce_kept``: the share of the cross-entropy's gradient the clipped step keeps,
    ``min(1, clip / ‖∇CE + ∇λR‖)`` (clipping scales the summed gradient, so both parts alike)."""
    rows = [r for r in history if "grad_ce" in r and (stage is None or r.get("stage") == stage)]
    out = {k: np.array([float(r[k]) for r in rows]) for k in FIELDS}
    out["frame"] = np.array([int(r.get("frame", 0)) for r in rows])
    out["stage"] = np.array([str(r.get("stage", "")) for r in rows])
    clip = np.array([float(r.get("grad_after_clip", 0.0)) for r in rows])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ce_kept"] = np.where(out["grad_total"] > 0, np.minimum(1.0, clip / out["grad_total"]), 1.0)
        out["ratio"] = out["grad_reg"] / out["grad_ce"]
    return out


def summarise_balance(history: Iterable[dict], stage: str | None = None) -> dict[str, float]:
    """Medians over the steps: ‖∇CE‖, ‖∇λR‖, their ratio and cosine, the share of steps clipped, and
    the cross-entropy step's norm after clipping (``ce_after_clip`` = ‖∇CE‖ × ``ce_kept``)."""
    a = balance_arrays(history, stage)
    if len(a["grad_ce"]) == 0:
        return {"steps": 0}

    def nanmedian(x: np.ndarray) -> float:  # λ = 0 has no regulariser: its cosines are all NaN
        return float(np.median(x[np.isfinite(x)])) if np.isfinite(x).any() else float("nan")

    return {
        "steps": int(len(a["grad_ce"])),
        "grad_ce": float(np.median(a["grad_ce"])),
        "grad_reg": float(np.median(a["grad_reg"])),
        "ratio": nanmedian(a["ratio"]),
        "cosine": nanmedian(a["grad_cosine"]),
        "clipped": float(np.mean(a["clipped"])),
        "ce_kept": float(np.median(a["ce_kept"])),
        "ce_after_clip": float(np.median(a["grad_ce"] * a["ce_kept"])),
    }


def record_gradient_balance(
    sequence, lambdas: Sequence[float], config: TrackerConfig | None = None, progress: bool = False
) -> dict[float, list[dict]]:
    """Track ``sequence`` once per λ with gradient recording on; each λ's training history."""
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence

    base = config or TrackerConfig(mode="fast")
    out: dict[float, list[dict]] = {}
    for lam in lambdas:
        tracker = DATTracker(base.replace(lam=float(lam)))
        tracker.record_gradients = True
        track_sequence(tracker, sequence, progress=progress)
        out[float(lam)] = list(tracker.history)
    return out


def update_diagnosis(sequence, config: TrackerConfig, *, oracle: bool = False, frames: int | None = None) -> dict:
    """Track ``sequence`` (its first ``frames``) with ``config`` and record, per frame, the overlap,
    the mean score of the top candidates the tracker chose (``chosen_score``), the score of the true
    box (``truth_score``; NaN where there is none) and whether the frame counted as a success.

    With ``oracle`` the updates learn from samples drawn around the true box (see the module doc);
    without it the run's boxes are those of a plain run with the same configuration and seed, since
    scoring the true box draws no random numbers.
    """
    from rlattn.boxes import iou, to_zero_based
    from rlattn.evaluation.failures import lost_frame
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence

    seq = sequence.truncated(frames) if frames else sequence
    truth = to_zero_based(np.asarray(seq.boxes, dtype=np.float64))
    valid = np.isfinite(truth).all(axis=1) & (truth[:, 2] > 0) & (truth[:, 3] > 0)
    tracker = DATTracker(config)
    tracker.truth = lambda i: truth[i] if valid[i] else None
    tracker.oracle_updates = oracle
    n = len(seq)
    chosen, true_score, success = np.full(n, np.nan), np.full(n, np.nan), np.ones(n, bool)

    def record(i: int, image, box) -> None:
        if i == 0:
            return
        chosen[i] = tracker.last_target_score
        if tracker.last_truth_score is not None:
            true_score[i] = tracker.last_truth_score
        success[i] = tracker.last_success

    boxes, info = track_sequence(tracker, seq, progress=False, on_frame=record)
    overlaps = iou(boxes, np.asarray(seq.boxes, dtype=np.float64))
    overlaps = np.where(valid, overlaps, np.nan)
    lost = lost_frame(overlaps)
    return {
        "boxes": boxes.tolist(),
        "iou": overlaps.tolist(),
        "chosen_score": chosen.tolist(),
        "truth_score": true_score.tolist(),
        "success": success.tolist(),
        "lost_frame": lost,
        "mean_iou": float(np.nanmean(overlaps)),
        "fps": info.get("fps"),
    }


def summarise_update_runs(runs: dict[str, dict], window: int = 5) -> list[dict]:
    """Pair each target's and seed's plain and oracle runs (``"<target>/<seed>/plain|oracle"``
    entries of :func:`update_diagnosis`) into one row: where each lost the target, its mean IoU, and
    ``score_gap``, the true box's score minus the chosen boxes' over the ``window`` frames up to the
    plain run's loss (negative: the classifier preferred what it chose; None without a loss)."""
    rows = []
    pairs = sorted({(r["target"], r["seed"]) for r in runs.values()})
    for target, seed in pairs:
        plain, oracle = runs.get(f"{target}/{seed}/plain"), runs.get(f"{target}/{seed}/oracle")
        if plain is None or oracle is None:
            continue
        lost = plain["lost_frame"]
        gap = None
        if lost is not None:
            span = slice(max(lost - window + 1, 1), lost + 1)
            truth, chosen = np.array(plain["truth_score"], float), np.array(plain["chosen_score"], float)
            diff = truth[span] - chosen[span]
            gap = float(np.nanmean(diff)) if np.isfinite(diff).any() else None
        rows.append(
            {
                "target": target,
                "seed": seed,
                "plain_lost": lost,
                "plain_iou": plain["mean_iou"],
                "oracle_lost": oracle["lost_frame"],
                "oracle_iou": oracle["mean_iou"],
                "score_gap": gap,
                "plain_boxes": plain["boxes"],
            }
        )
    return rows


def _updates_command(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from rlattn.arguments import seed_list
    from rlattn.datasets import default_data_root
    from rlattn.errors import RlattnError
    from rlattn.experiments import resolve_sequences
    from rlattn.machine import cpu_description, source_commit
    from rlattn.results import atomic_write_text

    root = args.data_root or default_data_root()
    if root is None:
        raise RlattnError("no benchmark data found: pass --data-root, set RLATTN_DATA or run 'rlattn data get otb2015'")
    refs, missing = resolve_sequences(Path(root), "otb2015", args.targets.split(","))
    if missing:
        raise RlattnError(f"not under {root}: {', '.join(missing)}")
    torch.set_num_threads(args.threads)
    out = json.loads(args.json.read_text()) if args.json.is_file() else {}
    base = TrackerConfig(mode=args.mode, lam=args.lam)
    config = {"mode": args.mode, "lam": args.lam, "frames": args.frames, "backbone": base.backbone}
    if out.setdefault("config", config) != config:  # runs of another setting would be skipped as done
        raise RlattnError(f"{args.json} holds runs of another setting ({out['config']}); give another --json")
    runs = out.setdefault("runs", {})
    jobs = [(r, s, v) for r in refs for s in seed_list(args.seeds) for v in ("plain", "oracle")]
    todo = [j for j in jobs if f"{j[0].key}/{j[1]}/{j[2]}" not in runs]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already in {args.json}")
    for ref, seed, variant in tqdm(todo, desc="update diagnosis", unit="run"):
        t0 = time.time()
        rec = update_diagnosis(ref.load(), base.replace(seed=seed), oracle=variant == "oracle", frames=args.frames)
        rec.update(target=ref.key, seed=seed, variant=variant, seconds=round(time.time() - t0, 1))
        runs[f"{ref.key}/{seed}/{variant}"] = rec
        out["made_by"] = {"machine": cpu_description(), "commit": source_commit(), "threads": args.threads,
                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(out) + "\n")  # after every run: a stop loses one run
    return 0


def main(argv: list[str] | None = None) -> int:
    from rlattn.arguments import seed_list
    from rlattn.errors import RlattnError

    parser = argparse.ArgumentParser(prog="python -m rlattn.diagnostics")
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("updates", help="score the true box every frame; plain runs and oracle-update runs")
    p.add_argument("--targets", required=True, help="comma-separated OTB targets, e.g. Diving,MotorRolling,Jogging-1")
    p.add_argument("--seeds", default="0-2", help="e.g. 0-2 or 0,3")
    p.add_argument("--frames", type=int, default=None, help="first N frames (default: whole sequences)")
    p.add_argument("--mode", choices=["fast", "exact"], default="fast")
    p.add_argument("--lam", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: as the study's workers)")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--json", type=Path, required=True, help="results; runs already in it are skipped")
    args = parser.parse_args(argv)
    try:
        seed_list(args.seeds)
        if args.frames is not None and args.frames < 2:
            raise RlattnError("--frames must be at least 2")
        return _updates_command(args)
    except (RlattnError, OSError) as exc:
        print(f"python -m rlattn.diagnostics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
