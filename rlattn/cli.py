"""``rlattn`` command line: ``track`` one sequence, ``run`` a tracker over a dataset, ``evaluate`` results."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rlattn.config import (
    BACKBONES,
    DAT_VARIANTS,
    DATASETS,
    MAP_KINDS,
    MODES,
    PRECISIONS,
    REDUCTIONS,
    TRACKERS,
    WEIGHTINGS,
    TrackerConfig,
)
from rlattn.errors import RlattnError

if TYPE_CHECKING:
    from rlattn.experiments import TrackerSpec


def _parse_box(text: str) -> np.ndarray:
    try:
        box = np.array([float(v) for v in text.replace(" ", ",").split(",") if v], dtype=np.float64)
    except ValueError:
        raise RlattnError(f"--init expects x,y,w,h numbers, got {text!r}") from None
    if box.shape != (4,):
        raise RlattnError(f"--init expects four numbers x,y,w,h, got {text!r}")
    return box


def _add_track(sub) -> None:
    p = sub.add_parser("track", help="track one sequence (or the synthetic demo) and write boxes + a picture")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--sequence",
        type=Path,
        help="OTB folder (img/ + groundtruth_rect.txt) or VOT folder (color/ + groundtruth.txt)",
    )
    src.add_argument(
        "--demo", action="store_true", help="track a synthetic sequence generated on the fly (no download)"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--target", type=int, help="target number for multi-target OTB sequences (groundtruth_rect.N.txt)")
    p.add_argument("--init", type=_parse_box_arg, help="first-frame box x,y,w,h (1-based) instead of the ground truth")
    p.add_argument("--start-frame", type=int, help="frame number of the first ground-truth line (OTB David: 300)")
    p.add_argument(
        "--lambda", dest="lam", type=float, default=5.0, help="regulariser weight λ (0 = MDNet baseline; default 5)"
    )
    p.add_argument("--backbone", choices=BACKBONES, default="efficientnet_lite0")
    p.add_argument("--weights", help="backbone weights file (required for vggm: imagenet-vgg-m.mat or .pth)")
    p.add_argument("--frames", type=int, help="track only the first N frames")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    _add_mode_args(p)
    p.add_argument(
        "--quick",
        action="store_true",
        help="fewer samples and iterations (the demo's setting; see TrackerConfig.quick)",
    )
    p.add_argument(
        "--save-video", action="store_true", help="write <name>.mp4 with predicted (red) and true (green) boxes"
    )
    p.add_argument("--save-frames", action="store_true", help="write <name>_frames/NNNN.jpg with the boxes drawn")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_track)


def _names(text: str | None) -> list[str] | None:
    """``--sequences a,b,c`` as a list (None when not given)."""
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


SYNTHETIC_ROOT = Path("data/synthetic")  # where `--dataset synthetic` writes its sequences by default


def _config(args: argparse.Namespace, quick: bool, lam: float | None = None) -> TrackerConfig:
    """The tracker configuration that ``track`` and ``run`` build from the same options."""
    base = TrackerConfig.quick() if quick else TrackerConfig()
    return base.replace(
        lam=args.lam if lam is None else lam,
        backbone=args.backbone,
        weights=args.weights,
        seed=args.seed,
        device=args.device,
        mode=args.mode,
        reg_samples=args.reg_samples,
        attention_map=args.attention_map,
        reg_reduction=args.reg_reduction,
        reg_weighting=args.reg_weighting,
        mining_precision=args.mining_precision,
    )


def _add_mode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        choices=MODES,
        default="exact",
        help="exact: a backbone pass per patch (the paper); fast: one pass per frame + RoIAlign, "
        "R on --reg-samples samples per mini-batch (~14x faster, see benchmarks/)",
    )
    p.add_argument("--reg-samples", type=int, default=8, help="fast mode: samples per mini-batch carrying R")
    p.add_argument(
        "--attention-map",
        choices=MAP_KINDS,
        default="input",
        help="the map R regularises: input (Eq. 2, the paper) or first_layer_energy (the authors' code's map)",
    )
    p.add_argument(
        "--reg-reduction",
        choices=REDUCTIONS,
        default="sum",
        help="R over the mini-batch: summed like the cross-entropy (the paper) or averaged",
    )
    p.add_argument(
        "--reg-weighting",
        choices=WEIGHTINGS,
        default="fixed",
        help="fixed: the step follows the gradient of CE + λR (the paper); relative: R's gradient is rescaled "
        "each step to λ times the cross-entropy's norm",
    )
    p.add_argument(
        "--mining-precision",
        choices=PRECISIONS,
        default="float32",
        help="hard-negative mining in bfloat16 (AMX; float32 where the CPU lacks it)",
    )


def _parse_box_arg(text: str) -> np.ndarray:
    try:
        return _parse_box(text)
    except RlattnError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_track(args: argparse.Namespace) -> int:
    from rlattn.arguments import at_least, writable_folder
    from rlattn.datasets import make_synthetic_sequence, open_sequence
    from rlattn.datasets.sequence import Sequence, list_frames
    from rlattn.experiments import MANIFEST
    from rlattn.results import write_run
    from rlattn.tracker import DATTracker
    from rlattn.tracking import track_sequence
    from rlattn.visualize import FrameWriter, draw_boxes, summary_figure

    at_least("--frames", args.frames)
    at_least("--start-frame", args.start_frame)
    if (args.out / MANIFEST).exists():
        raise RlattnError(
            f"{args.out} is a results folder of 'rlattn run' ({MANIFEST}); give 'track' a folder of its own"
        )
    writable_folder(args.out)  # before tracking: a sequence's work must not be lost at the end
    if args.demo:
        seq = make_synthetic_sequence(n_frames=args.frames or 60, seed=args.seed, name="demo")
    elif args.init is not None and not _has_ground_truth(args.sequence):
        folder = args.sequence / "img" if (args.sequence / "img").is_dir() else args.sequence / "color"
        folder = folder if folder.is_dir() else args.sequence
        seq = Sequence(args.sequence.name, list_frames(folder), None, path=args.sequence)
    else:
        seq = open_sequence(args.sequence, target=args.target, start_frame=args.start_frame)
    seq = seq.truncated(args.frames)
    cfg = _config(args, quick=args.quick or args.demo)
    tracker = DATTracker(cfg)
    truth = seq.boxes
    writer = None
    if args.save_video or args.save_frames:
        writer = FrameWriter(
            args.out / f"{seq.name}_frames" if args.save_frames else None,
            args.out / f"{seq.name}.mp4" if args.save_video else None,
        )
    keep = sorted({0, len(seq) // 3, (2 * len(seq)) // 3, len(seq) - 1})
    kept: dict[int, np.ndarray] = {}

    def on_frame(i: int, image: np.ndarray, box: np.ndarray) -> None:
        if i in keep:
            kept[i] = image
        if writer is not None:
            writer.add(i, draw_boxes(image, box, truth[i] if truth is not None else None, f"#{i + 1}"))

    try:
        boxes, info = track_sequence(tracker, seq, init_box=args.init, progress=not args.no_progress, on_frame=on_frame)
    finally:
        if writer is not None:
            writer.close()
    info.update(
        {
            "tracker": tracker.name,
            "first_frame": seq.first_frame,
            "config": cfg.to_dict(),
            "device": cfg.device,
            "box_convention": "x,y,w,h with 1-based top-left pixel (OTB)",
        }
    )
    if truth is not None:
        from rlattn.boxes import iou

        info["mean_iou"] = float(iou(boxes, truth).mean())
    txt, js = write_run(args.out, seq.name, boxes, info)
    png = summary_figure(
        args.out / f"{seq.name}.png",
        [kept[i] for i in keep],
        keep,
        boxes,
        truth,
        f"{tracker.name} (λ={cfg.lam:g}, {cfg.backbone}) on {seq.name}",
    )
    fps = f"{info['fps']:.2f}" if info["fps"] else "n/a"
    msg = f"{seq.name}: {len(seq)} frames, init {info['init_seconds']:.1f} s, {fps} FPS"
    if "mean_iou" in info:
        msg += f", mean IoU {info['mean_iou']:.3f}"
    print(msg)
    print(f"wrote {txt}, {js}, {png}")
    return 0


def _has_ground_truth(path: Path) -> bool:
    return any(path.glob("groundtruth*.txt"))


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score result folders with the OTB one-pass protocol; table, JSON, plots")
    p.add_argument(
        "--results",
        type=Path,
        action="append",
        required=True,
        help="a tracker's results folder (<seq>.txt or <seq>_<Tracker>.mat); repeat for several",
    )
    p.add_argument("--dataset", default="otb2015", choices=DATASETS)
    p.add_argument(
        "--annotations",
        type=Path,
        help="anno_tb100-style folder (<name>.txt, att/) or OTB sequence folders; "
        "default: <data root>/otb_meta/anno_tb100",
    )
    p.add_argument("--sequences", help="comma-separated subset of the dataset's sequences")
    p.add_argument("--protocol", choices=["otb", "got10k"], default="otb")
    p.add_argument("--frames", type=int, help="score only the first N frames (results of run --frames N)")
    p.add_argument("--json", type=Path, help="write the scores (overall, per sequence, per attribute)")
    p.add_argument(
        "--unbounded",
        action="store_true",
        help="vot2016: overlaps not clipped to the image (the toolkit clips; without frames the size is unknown)",
    )
    p.add_argument("--plot", type=Path, help="write the OPE precision/success plots (PNG)")
    p.add_argument("--attribute-plot", type=Path, help="write per-attribute success plots (PNG)")
    p.set_defaults(func=cmd_evaluate)


def _otb_scoring(args: argparse.Namespace) -> tuple[dict, list[str]]:
    """The annotations and sequence keys that ``evaluate`` and ``compare`` score OTB results on."""
    from rlattn.datasets.otb import default_data_root
    from rlattn.evaluation.annotations import load_annotations, sequence_set
    from rlattn.evaluation.results_io import sequence_key

    root = default_data_root()
    if args.dataset == "synthetic":
        root = None
        args.annotations = args.annotations or SYNTHETIC_ROOT / "otb"
    anno_dir = args.annotations
    if anno_dir is None and root is not None:
        from rlattn.datasets.otb import annotation_folder

        anno_dir = annotation_folder(root)
    if anno_dir is None:
        from rlattn.datasets.otb import NO_DATA

        raise RlattnError(f"no --annotations given and {NO_DATA}")
    annotations = load_annotations(anno_dir)
    meta_dirs = [anno_dir, anno_dir.parent] + ([root / "otb_meta"] if root else [])
    if args.sequences:
        keys = [sequence_key(s) for s in _names(args.sequences)]
    else:
        keys = sequence_set(args.dataset, meta_dirs)
    return annotations, keys


def _check_outputs(args: argparse.Namespace) -> None:
    """``--frames``, ``--json`` and the plots of ``evaluate``/``compare``, checked before any scoring."""
    from rlattn.arguments import at_least, image_suffixes, writable_file

    at_least("--frames", getattr(args, "frames", None))
    if getattr(args, "json", None):
        writable_file(args.json, "--json")
    for flag in ("plot", "attribute_plot"):
        if getattr(args, flag, None):
            writable_file(getattr(args, flag), f"--{flag.replace('_', '-')}", image_suffixes())


def _display_names(folders: list[Path]) -> list[str]:
    """Each results folder's name in tables and ``--json``: its own name, or, where two folders
    share one (``a/DAT`` and ``b/DAT``), as much of its path as tells them apart."""
    names = [f.name for f in folders]
    depth = 1
    while len(set(names)) < len(names) and depth < 8:
        depth += 1
        names = ["/".join(Path(f).resolve().parts[-depth:]) for f in folders]
    if len(set(names)) < len(names):
        raise RlattnError("the same --results folder is given twice")
    return names


def _notes(report) -> None:
    for problem in report.problems:
        print(f"note: {report.tracker}: {problem}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from rlattn.datasets.otb import default_data_root
    from rlattn.evaluation.seeds import METRICS, evaluate_seeds

    _check_outputs(args)
    if args.dataset == "vot2016":
        return _evaluate_vot(args, default_data_root())
    annotations, keys = _otb_scoring(args)
    names = _display_names(args.results)
    seeded = [
        evaluate_seeds(folder, annotations, keys, args.protocol, name, frames=args.frames)
        for folder, name in zip(args.results, names)
    ]
    for r in seeded:
        _notes(r)
    reports = [r.pooled() for r in seeded]
    order = sorted(range(len(reports)), key=lambda i: -reports[i].overall["auc"])
    w = max(14, *(len(r.tracker) + 2 for r in seeded))
    print(f"OPE on {args.dataset} ({args.protocol} protocol)")
    print(f"{'tracker':<{w}}{'seqs':>5}{'seeds':>6}{'AUC':>8}{'DP@20':>8}{'CLE':>8}{'OS@0.5':>8}{'FPS':>8}")
    for i in order:
        r, o = reports[i], reports[i].overall
        fps = f"{r.fps:.2f}" if r.fps else "-"
        n_seeds = len(seeded[i].seeds)
        print(
            f"{seeded[i].tracker:<{w}}{o['sequences']:>5}{n_seeds:>6}{o['auc']:>8.3f}{o['dp20']:>8.3f}"
            f"{o['cle']:>8.2f}{o['os50']:>8.3f}{fps:>8}"
        )
    multi = [s for s in seeded if len(s.seeds) > 1]
    if multi:
        print("\nmean over targets and seeds, 95% CI (two-level bootstrap: targets, then seeds)")
        for s in multi:
            cells = "  ".join(f"{label} {s.summary(m).format()}" for m, label in (("auc", "AUC"), ("dp20", "DP@20")))
            print(f"{s.tracker:<{w}}{len(s.targets):>3} targets x {len(s.seeds)} seeds  {cells}")
    if args.json:
        from rlattn.results import atomic_write_text

        payload = {}
        for s, r in zip(seeded, reports):
            payload[s.tracker] = {
                "overall": r.overall,
                "per_attribute": r.per_attribute,
                "per_sequence": r.per_sequence,
                "fps": r.fps,
                "problems": r.problems,
                "seeds": s.seeds,
                "seed_statistics": {m: s.summary(m).to_dict() for m in METRICS} if len(s.seeds) > 1 else None,
            }
        atomic_write_text(args.json, json.dumps(payload, indent=1, default=lambda o: np.asarray(o).tolist()))
    if args.plot or args.attribute_plot:
        from rlattn.plotting import attribute_plots, ope_plots

        if args.plot:
            print(f"wrote {ope_plots(reports, args.plot, args.dataset)}")
        if args.attribute_plot:
            print(f"wrote {attribute_plots(reports, args.attribute_plot, args.dataset)}")
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of two result folders on the same targets: per-target difference, "
        "its 95%% CI over targets and seeds, sign and Wilcoxon tests",
    )
    p.add_argument("a", type=Path, help="results folder A (one seed, or seed<N>/ subfolders)")
    p.add_argument("b", type=Path, help="results folder B; the difference is A - B")
    p.add_argument("--name-a", help="A's name in the table (default: its folder's name)")
    p.add_argument("--name-b", help="B's name in the table")
    p.add_argument("--metric", choices=["auc", "dp20", "cle", "os50"], default="auc")
    p.add_argument("--dataset", default="otb2015", choices=[d for d in DATASETS if d != "vot2016"])
    p.add_argument("--annotations", type=Path, help="as for evaluate")
    p.add_argument("--sequences", help="comma-separated subset (default: the dataset's sequences both have)")
    p.add_argument("--protocol", choices=["otb", "got10k"], default="otb")
    p.add_argument("--frames", type=int, help="score only the first N frames")
    p.add_argument("--json", type=Path, help="write the comparison (per target and overall)")
    p.add_argument("--plot", type=Path, help="write the per-target differences with their seed spread (PNG)")
    p.add_argument(
        "--against",
        nargs=2,
        type=Path,
        metavar=("C", "D"),
        help="compare the difference A - B with C - D (e.g. λ = 5 - λ = 0 in exact mode against the same in "
        "fast mode): the difference of differences per target, its CI and tests, on the targets all four share",
    )
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from rlattn.evaluation.seeds import compare, evaluate_seeds

    _check_outputs(args)
    annotations, keys = _otb_scoring(args)
    a = evaluate_seeds(args.a, annotations, keys, args.protocol, args.name_a, args.frames)
    b = evaluate_seeds(args.b, annotations, keys, args.protocol, args.name_b, args.frames)
    for r in (a, b):
        _notes(r)
    if args.against:
        return _compare_differences(args, annotations, keys, a, b)
    cmp = compare(a, b, args.metric)
    m = args.metric.upper()
    ma, mb = a.matrix(args.metric, cmp.targets), b.matrix(args.metric, cmp.targets)
    def seeds(n: int) -> str:
        return f"{n} seed{'s' if n != 1 else ''}"

    print(f"{m}: {a.tracker} ({seeds(cmp.seeds_a)}) - {b.tracker} ({seeds(cmp.seeds_b)}), {len(cmp.targets)} targets")
    spread = cmp.delta_low is not None
    print(f"{'target':<16}{'A':>8}{'B':>8}{'delta':>9}" + (f"{'95% CI over seeds':>22}" if spread else ""))
    for i, t in enumerate(cmp.targets):
        line = f"{t:<16}{ma[:, i].mean():>8.3f}{mb[:, i].mean():>8.3f}{cmp.delta[i]:>+9.3f}"
        if spread:
            line += f"{f'[{cmp.delta_low[i]:+.3f}, {cmp.delta_high[i]:+.3f}]':>22}"
        print(line)
    print(f"mean delta {m}: {cmp.mean.format()}")
    print(
        f"A higher on {cmp.wins}, lower on {cmp.losses}, equal on {cmp.ties} targets; "
        f"sign test p = {cmp.sign_p:.3g}, Wilcoxon signed-rank p = {cmp.wilcoxon_p:.3g}"
    )
    payload = {"metric": args.metric, "a": str(args.a), "b": str(args.b), "name_a": a.tracker, "name_b": b.tracker}
    return _finish_comparison(args, cmp, payload, a.tracker, b.tracker)


def _finish_comparison(args: argparse.Namespace, cmp, payload: dict, name_a: str, name_b: str) -> int:
    """A comparison's notes, ``--json`` (``payload`` plus the comparison) and ``--plot``: the tail
    of ``compare`` with and without ``--against``."""
    import json

    from rlattn.evaluation.statistics import BOOT_SEED, N_BOOT

    if cmp.mean.mc_error is not None:
        print(f"interval: {N_BOOT:,} draws of the two-level bootstrap, seed {BOOT_SEED}; Monte-Carlo error of its "
              f"bounds {cmp.mean.mc_error:.4f}. The interval decides; the tests count targets and only describe.")
    for note in cmp.notes:
        print(f"note: {note}")
    if args.json:
        from rlattn.results import atomic_write_text

        boot = {"bootstrap": {"draws": N_BOOT, "seed": BOOT_SEED}}
        atomic_write_text(args.json, json.dumps({**payload, **cmp.to_dict(), **boot}, indent=1) + "\n")
    if args.plot:
        from rlattn.plotting import paired_difference_plot

        print(f"wrote {paired_difference_plot(cmp, args.plot, name_a, name_b, args.metric)}")
    return 0


def _compare_differences(args: argparse.Namespace, annotations, keys: list[str], a, b) -> int:
    """``rlattn compare A B --against C D``: (A − B) − (C − D) per target, with its interval."""
    from rlattn.errors import RlattnError
    from rlattn.evaluation.seeds import evaluate_seeds
    from rlattn.evaluation.statistics import difference_of_differences

    c, d = (evaluate_seeds(f, annotations, keys, args.protocol, None, args.frames) for f in args.against)
    for r in (c, d):
        _notes(r)
    shared = [t for t in a.targets if all(t in set(r.targets) for r in (b, c, d))]
    if not shared:
        raise RlattnError("the four folders share no target")
    mats = [r.matrix(args.metric, shared) for r in (a, b, c, d)]
    dd = difference_of_differences(*mats, targets=shared)
    m = args.metric.upper()
    print(f"{m}: ({a.tracker} - {b.tracker}) - ({c.tracker} - {d.tracker}), {len(shared)} targets, "
          f"seeds {mats[0].shape[0]}, {mats[1].shape[0]}, {mats[2].shape[0]}, {mats[3].shape[0]}")
    spread = dd.delta_low is not None
    print(f"{'target':<16}{'A - B':>9}{'C - D':>9}{'diff':>9}" + (f"{'95% CI over seeds':>22}" if spread else ""))
    for i, t in enumerate(shared):
        ab, cd = mats[0][:, i].mean() - mats[1][:, i].mean(), mats[2][:, i].mean() - mats[3][:, i].mean()
        line = f"{t:<16}{ab:>+9.3f}{cd:>+9.3f}{dd.delta[i]:>+9.3f}"
        if spread:
            line += f"{f'[{dd.delta_low[i]:+.3f}, {dd.delta_high[i]:+.3f}]':>22}"
        print(line)
    print(f"mean difference of differences ({m}): {dd.mean.format()}")
    print(f"A - B larger on {dd.wins}, smaller on {dd.losses} targets; sign test p = {dd.sign_p:.3g}, "
          f"Wilcoxon signed-rank p = {dd.wilcoxon_p:.3g}")
    names = dict(zip("abcd", (str(f) for f in (args.a, args.b, *args.against))))
    payload = {"metric": args.metric, "contrast": "(a - b) - (c - d)", **names}
    return _finish_comparison(args, dd, payload, f"({a.tracker} - {b.tracker})", f"({c.tracker} - {d.tracker})")


def _lambdas(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lambda expects numbers (e.g. 5 or 0,1,2,4,8), got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("--lambda needs at least one value")
    return values


def _seeds(text: str) -> list[int]:
    """``0-4`` or ``0,2,7`` (or both: ``0-2,7``) as a sorted list of distinct seeds."""
    from rlattn.arguments import seed_list

    try:
        return seed_list(text)
    except RlattnError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run a tracker over a dataset: one result file per sequence, resumable")
    p.add_argument(
        "--tracker",
        required=True,
        choices=TRACKERS,
        help="mdnet = DAT with λ = 0; attfeat = MDNet + a feature-attention module (the paper's Table 2 "
        "baseline); csrt/kcf/nanotrack = OpenCV peers",
    )
    p.add_argument("--dataset", default="otb2015", choices=DATASETS)
    p.add_argument("--runs", type=int, help="VOT runs per sequence (default 15 for dat/mdnet, 1 for OpenCV peers)")
    p.add_argument(
        "--data-root",
        type=Path,
        help="folder with otb/<Seq>/ (and otb_meta/); default: ../shared/data (data/synthetic for --dataset synthetic)",
    )
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument(
        "--out",
        type=Path,
        help="results folder (one per tracker configuration; a λ sweep writes <out>/lambda_<λ>/)",
    )
    dest.add_argument(
        "--results-root",
        type=Path,
        help="instead of --out: each configuration into <root>/<label>-<hash>/, the layout the book's "
        "chapters look in (data/results/otb)",
    )
    p.add_argument("--sequences", help="comma-separated names (default: every sequence of --dataset found)")
    p.add_argument(
        "--lambda",
        dest="lam",
        type=_lambdas,
        default=[5.0],
        help="regulariser weight λ (default 5); a list such as 0,1,2,4,8 runs a sweep (dat only)",
    )
    p.add_argument("--backbone", choices=BACKBONES, default="efficientnet_lite0")
    p.add_argument("--weights")
    p.add_argument("--device", default="cpu")
    seed = p.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=int, default=0, help="one seed, results directly in --out (default 0)")
    seed.add_argument(
        "--seeds",
        type=_seeds,
        help="several seeds, e.g. 0-4 or 0,2,7: each seed's results in <out>/seed<N>/ (evaluate and compare "
        "then give mean ± 95%% CI)",
    )
    _add_mode_args(p)
    p.add_argument("--quick", action="store_true", help="TrackerConfig.quick() instead of the paper's settings")
    p.add_argument("--frames", type=int, help="only the first N frames of each sequence")
    p.add_argument(
        "--workers", type=int, default=1, help="parallel processes, one sequence each (local pool or LocalCluster)"
    )
    p.add_argument(
        "--scheduler",
        help="run the tasks on Dask: tcp://HOST:8786 (an existing cluster; workers must see the same paths) "
        "or 'local' (a LocalCluster of --workers processes, which retries tasks of a worker that dies)",
    )
    p.add_argument("--nanotrack-dir", help="folder with the NanoTrack ONNX pair (default ../shared/models/nanotrack)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--study",
        help="a named study of rlattn.studies (e.g. exact-lambda0): its tracker, configuration, targets, seeds "
        "and results folder; --seeds, --results-root and the scheduling options may be given beside it",
    )
    p.set_defaults(func=cmd_run)


def _check_run_args(args: argparse.Namespace) -> None:
    """Everything about a ``run`` that can be wrong before a task starts, so that a run that cannot
    work fails at once instead of failing every task after claiming its results folder."""
    from rlattn.arguments import at_least, distinct, writable_folder
    from rlattn.evaluation.results_io import sequence_key

    at_least("--workers", args.workers)
    at_least("--frames", args.frames)
    at_least("--runs", args.runs)
    at_least("--reg-samples", args.reg_samples)
    if args.sequences:
        args.sequences = ",".join(distinct(_names(args.sequences) or [], key=sequence_key))
    args.lam = [0.0 if v == 0 else v for v in distinct(args.lam, key=float)]  # 0, 0.0 and -0 are one λ
    if args.scheduler and args.scheduler != "local" and ":" not in args.scheduler:
        raise RlattnError(
            f"--scheduler takes 'local' or a Dask scheduler address tcp://HOST:PORT, got {args.scheduler!r}"
        )
    writable_folder(args.out or args.results_root, "--out" if args.out else "--results-root")


def _tracker_specs(args: argparse.Namespace) -> list[tuple[TrackerSpec, str]]:
    """``(TrackerSpec, tag)`` per configuration of this command: one, or one per λ of a sweep."""
    from rlattn.experiments import TrackerSpec

    if len(args.lam) > 1 and args.tracker != "dat":
        raise RlattnError(f"a λ sweep needs --tracker dat ({args.tracker} has no λ; mdnet is dat with λ = 0)")
    specs = []
    for lam in args.lam:
        config = _config(args, quick=args.quick, lam=lam) if args.tracker in DAT_VARIANTS else None
        tag = f"lambda_{lam:g}" if len(args.lam) > 1 else ""  # also the subfolder: out / "" is out
        specs.append((TrackerSpec(args.tracker, config, args.nanotrack_dir), tag))
    # fail early (missing or bad weights or models, no CUDA) before any task starts or a folder is
    # claimed: a DAT tracker loads its backbone only on its first frame, so load it here
    specs[0][0].build()
    cfg = specs[0][0].effective_config()
    if cfg is not None:
        from rlattn.tracker import shared_backbone

        shared_backbone(cfg.backbone, cfg.weights, cfg.device)
    return specs


def _report_run(args: argparse.Namespace, summary, unit: str = "") -> int:
    """One summary line (done / skipped / failed), then each failure with its reason."""
    print(
        f"{args.tracker}: {len(summary.done)} {unit}done, {len(summary.skipped)} already there (skipped), "
        f"{len(summary.failed)} failed -> {args.out or args.results_root} ({summary.wall_seconds:.1f} s)"
    )
    for name, err in summary.failed.items():
        print(f"  failed {name}: {err}")
    if summary.busy:
        print(
            f"{len(summary.busy)} left to another run that was tracking them into the same folder "
            f"({', '.join(summary.busy[:6])}{' ...' if len(summary.busy) > 6 else ''}); run this command "
            "again once it has finished to check that nothing is missing"
        )
    if summary.interrupted:
        print("interrupted: finished results are kept; the same command runs only what is missing", file=sys.stderr)
        return 130
    return 1 if summary.failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from rlattn.datasets.otb import default_data_root
    from rlattn.executors import execute
    from rlattn.experiments import interleave, resolve_sequences, sequence_tasks, vot_folders, vot_tasks

    root = args.data_root or default_data_root()
    if args.dataset == "synthetic":
        root = args.data_root or SYNTHETIC_ROOT
    if root is None:
        from rlattn.datasets.otb import NO_DATA

        raise RlattnError(NO_DATA)
    _check_run_args(args)
    names = _names(args.sequences)
    specs = _tracker_specs(args)
    tasks = []
    if args.dataset == "vot2016":
        if args.results_root:
            raise RlattnError("--results-root is for OTB-style runs; give VOT runs an --out folder")
        if args.seeds:
            raise RlattnError("--seeds is for OTB-style runs; a VOT run r of a sequence uses seed --seed + r - 1")
        folders = vot_folders(root, names)
        runs = args.runs or (15 if args.tracker in DAT_VARIANTS else 1)
        for spec, tag in specs:
            tasks += vot_tasks(spec, folders, args.out / tag, runs, tag, root)
        unit, desc = "runs ", f"{args.tracker} VOT runs"
    else:
        refs, missing = resolve_sequences(root, args.dataset, names, args.frames)
        if missing:
            print(
                f"rlattn: {len(missing)} sequence(s) of {args.dataset} not under {root}, going on without them: "
                + ", ".join(missing[:12])
                + (" ..." if len(missing) > 12 else ""),
                file=sys.stderr,
            )
        if not refs:
            raise RlattnError(f"none of the requested sequences is under {root}")
        if args.results_root:
            from rlattn.experiments import frames_limit, results_folder

            # seeds live in seed<N>/ folders of the new layout: never in a one-seed folder of old
            legacy = args.seeds is None
            outs = [results_folder(args.results_root, spec, frames_limit(refs), legacy=legacy) for spec, _ in specs]
            specs = [(spec, out.name) for (spec, _), out in zip(specs, outs)]
        else:
            outs = [args.out / tag for _, tag in specs]
        tasks = interleave(
            [sequence_tasks(spec, refs, out, tag, args.seeds) for (spec, tag), out in zip(specs, outs)]
        )
        unit, desc = "", f"{args.tracker} sequences"
    summary = execute(
        tasks,
        workers=args.workers,
        scheduler=args.scheduler,
        gpu=bool(args.scheduler) and args.device.startswith("cuda"),
        progress=not args.no_progress,
        desc=desc,
    )
    return _report_run(args, summary, unit)


def _evaluate_vot(args: argparse.Namespace, root: Path | None) -> int:
    import json

    from rlattn.datasets.vot import load_vot_sequence, vot2016_groundtruth
    from rlattn.evaluation.vot import evaluate_vot_folder
    from rlattn.experiments import vot_folders

    base = args.annotations or root
    if base is None:
        from rlattn.datasets.otb import NO_DATA

        raise RlattnError(f"no --annotations (VOT sequence or annotation folders) given and {NO_DATA}")
    names = _names(args.sequences)
    sequences = {
        d.name: load_vot_sequence(d, vot2016_groundtruth(base, d.name), frames_required=False)
        for d in vot_folders(base, names)
    }
    reports = [evaluate_vot_folder(folder, sequences, bounded=not args.unbounded) for folder in args.results]
    for r in reports:
        for problem in r.problems:
            print(f"note: {r.tracker}: {problem}", file=sys.stderr)
    acc_rank = {r.tracker: i + 1 for i, r in enumerate(sorted(reports, key=lambda r: -r.accuracy))}
    rob_rank = {r.tracker: i + 1 for i, r in enumerate(sorted(reports, key=lambda r: r.robustness))}
    reports.sort(key=lambda r: -r.eao)
    w = max(14, *(len(r.tracker) + 2 for r in reports))
    print(f"VOT-2016 supervised on {len(sequences)} sequences")
    print(f"{'tracker':<{w}}{'seqs':>5}{'EAO':>8}{'A':>8}{'R':>8}{'fail':>8}{'Ar':>5}{'Rr':>5}")
    for r in reports:
        print(
            f"{r.tracker:<{w}}{r.sequences:>5}{r.eao:>8.3f}{r.accuracy:>8.3f}{r.robustness:>8.2f}{r.failures:>8.1f}"
            f"{acc_rank[r.tracker]:>5}{rob_rank[r.tracker]:>5}"
        )
    if args.json:
        from rlattn.results import atomic_write_text

        atomic_write_text(args.json, json.dumps({r.tracker: r.__dict__ for r in reports}, indent=1))
    return 0


def _add_ledger(sub) -> None:
    p = sub.add_parser(
        "ledger",
        help="the book's findings from the committed results: the claims ledger, the paired comparisons, the "
        "README's headline (print, --check or --write)",
    )
    p.add_argument("--data-root", type=Path, help="where otb_meta/ (the annotations) lies (default: the usual rule)")
    p.add_argument("--results-root", type=Path, default=None, help="default: data/results/otb of the checkout")
    p.add_argument("--n-boot", type=int, default=None, help="bootstrap draws (default: the book's)")
    p.add_argument("--boot-seed", type=int, default=None, help="bootstrap seed (default: the book's)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true", help="rewrite book/generated/*.md and the README's block")
    what.add_argument("--check", action="store_true", help="exit 1 if a committed copy differs from the results")
    p.set_defaults(func=cmd_ledger)


def cmd_ledger(args: argparse.Namespace) -> int:
    from rlattn.arguments import at_least
    from rlattn.datasets.otb import NO_DATA, default_data_root
    from rlattn.evaluation.statistics import BOOT_SEED, N_BOOT
    from rlattn.findings import Evidence, findings_markdown, headline, ledger_markdown, stale_files
    from rlattn.project import project_root
    from rlattn.results import atomic_write_text

    at_least("--n-boot", args.n_boot, 1000)  # fewer draws cannot estimate their own Monte-Carlo error
    n_boot = N_BOOT if args.n_boot is None else args.n_boot
    seed = BOOT_SEED if args.boot_seed is None else args.boot_seed
    root = project_root()
    data = args.data_root or default_data_root()
    if data is None:
        raise RlattnError(NO_DATA)
    results = args.results_root or ((root or Path.cwd()) / "data" / "results" / "otb")
    ev = Evidence.from_data_root(data, results)
    if args.write or args.check:
        if root is None:
            raise RlattnError("--write and --check need the project's checkout (run inside it)")
        if (n_boot, seed) != (N_BOOT, BOOT_SEED):
            raise RlattnError("the committed pages use the book's bootstrap: drop --n-boot/--boot-seed")
        stale = stale_files(ev, root)
        for path, text in stale.items():
            if args.write:
                atomic_write_text(path, text)
            print(f"{'wrote' if args.write else 'stale'}: {path.relative_to(root)}")
        if not stale:
            print("the generated pages match the committed results")
        return 1 if args.check and stale else 0
    print(headline(ev, n_boot, seed), findings_markdown(ev, n_boot, seed), ledger_markdown(ev, n_boot, seed),
          sep="\n\n")
    return 0


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="the benchmarks: what is known and present (list), fetch them (get)")
    verbs = p.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the known sets, and what is present in each data folder")
    ls.set_defaults(func=cmd_data_list)
    get = verbs.add_parser("get", help="download a set or sequences from the official sources")
    get.add_argument("what", help="otb2013, otb2015, tb50, vot2016, or OTB sequence names (Car4,Jogging-1,...)")
    get.add_argument("--root", type=Path, help="where to put them (default: $RLATTN_DATA, else ~/.cache/rlattn)")
    get.add_argument("--otb-url", default=None, help="OTB archive address with {name} (default: the benchmark's site)")
    get.add_argument("--vot-url", default=None, help="the VOT stack's description.json (default: the VOT site's)")
    get.add_argument("--keep-archives", action="store_true", help="keep the downloaded OTB zips in <root>/downloads")
    get.add_argument("--no-progress", action="store_true")
    get.set_defaults(func=cmd_data_get)


def _data_target(args: argparse.Namespace) -> Path:
    from rlattn.arguments import writable_folder
    from rlattn.datasets.otb import env_data_root, user_data_root

    return writable_folder(args.root or env_data_root() or user_data_root(), "--root")


def cmd_data_get(args: argparse.Namespace) -> int:
    from rlattn.datasets import download

    root = _data_target(args)
    progress = not args.no_progress
    if args.what.lower().startswith("vot"):
        got = download.get_vot(args.what.lower(), root, args.vot_url, progress=progress)
    else:
        url = args.otb_url or download.OTB_URL
        if "{name}" not in url:
            raise RlattnError(f"--otb-url needs {{name}} where the sequence's name goes, got {url!r}")
        got = download.get_otb(download.otb_names(args.what), root, url, progress, args.keep_archives)
    new = sum(f.downloaded for f in got)
    print(f"{len(got)} sequences in {root} ({new} downloaded now, {len(got) - new} were there)")
    if new:
        print(f"the commands find them there by themselves (or: export RLATTN_DATA={root})")
    return 0


def _subfolders(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir()) if folder.is_dir() else []


def cmd_data_list(args: argparse.Namespace) -> int:
    from rlattn.datasets.download import VOT_STACKS, folder_size
    from rlattn.datasets.otb import DATA_ENV, default_data_root, env_data_root, user_data_root
    from rlattn.datasets.otb_catalog import SETS, archives

    print("known sets: " + ", ".join(f"{k} ({len(v)} targets)" for k, v in SETS.items() if k != "otb100"))
    print("            " + ", ".join(f"{k} (VOT toolkit stack)" for k in VOT_STACKS))
    found = default_data_root()
    print(f"data used by default: {found or 'none'}")
    env = env_data_root()
    places = {"$" + DATA_ENV: str(env) if env else None, "default": str(found) if found else None,
              "rlattn data get": str(user_data_root())}  # fmt: skip
    seen = set()
    for label, where in places.items():
        if not where or where in seen:
            continue
        seen.add(where)
        root = Path(where)
        otb = [d.name for d in _subfolders(root / "otb") if (d / "img").is_dir()]
        vot = [d for d in _subfolders(root / "vot") if (d / "groundtruth.txt").is_file()]
        size = folder_size(root) / 2**30 if root.is_dir() else 0.0
        print(f"{label}: {root} - {len(otb)} OTB folders, {len(vot)} VOT sequences, {size:.2f} GiB")
        for name, names in SETS.items():
            if name == "otb100" or not otb:
                continue
            have = [a for a in archives(names) if a in otb]
            print(f"  {name}: {len(have)} of {len(archives(names))} folders")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlattn", description="Deep Attentive Tracking via Reciprocative Learning")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_track(sub)
    _add_evaluate(sub)
    _add_compare(sub)
    _add_run(sub)
    _add_ledger(sub)
    _add_data(sub)
    return parser


# what a study fixes: `run --study NAME` refuses them rather than run another configuration under its name
_STUDY_OWNS = ("--tracker", "--lambda", "--mode", "--reg-weighting", "--attention-map", "--reg-samples",
               "--backbone", "--frames", "--sequences", "--quick", "--out", "--dataset", "--seed")


def _expand_study(argv: list[str]) -> list[str]:
    """``run --study NAME [options]`` as the study's own ``rlattn run`` plus the options given
    (``--seeds`` and ``--results-root`` replace the study's; scheduling options are added)."""
    import shlex

    from rlattn.studies import RESULTS_ROOT, get_study

    flags = [a.split("=", 1)[0] for a in argv]
    if not argv or argv[0] != "run" or "--study" not in flags:
        return argv
    i = flags.index("--study")
    if "=" in argv[i]:
        name, rest = argv[i].split("=", 1)[1], argv[1:i] + argv[i + 1 :]
    elif i + 1 < len(argv):
        name, rest = argv[i + 1], argv[1:i] + argv[i + 2 :]
    else:
        raise RlattnError("--study needs a name (rlattn ledger lists the studies' rows; rlattn.studies.STUDIES)")
    clash = sorted({a.split("=", 1)[0] for a in rest} & set(_STUDY_OWNS))
    if clash:
        raise RlattnError(f"--study {name} sets {', '.join(clash)} itself: drop them, or run without --study")
    from rlattn.project import project_root

    study = get_study(name)
    given = {a.split("=", 1)[0] for a in rest}
    checkout = project_root()  # the committed results of the checkout, wherever the command runs
    root = checkout / RESULTS_ROOT if checkout is not None else RESULTS_ROOT
    if "--results-root" in given:
        j = [a.split("=", 1)[0] for a in rest].index("--results-root")
        root = Path(rest[j].split("=", 1)[1]) if "=" in rest[j] else Path(rest[j + 1])
    base = shlex.split(study.command(root))[2:]
    drop = {"--results-root"} | ({"--seeds"} & given)
    kept: list[str] = []
    skip = False
    for a in base:
        if skip:
            skip = False
            continue
        if a in drop:
            skip = True
            continue
        kept.append(a)
    if "--results-root" not in given:
        kept += ["--results-root", str(root)]
    return ["run", *kept, *rest]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        argv = _expand_study(list(sys.argv[1:] if argv is None else argv))
    except RlattnError as exc:
        print(f"rlattn: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RlattnError as exc:
        print(f"rlattn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlattn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rlattn data list | head` closed the pipe: not an error, like any filter
        # Python would complain again when it flushes stdout at exit; point stdout at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full disk, a read-only folder, a vanished file: the user's to fix
        where = f": {exc.filename}" if exc.filename else ""
        print(f"rlattn: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
