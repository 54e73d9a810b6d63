"""OTB sequence folders: ``img/NNNN.jpg`` + ``groundtruth_rect[.N].txt``.

The OTB toolkit's quirks are handled here: separators vary, some sequences have two targets
(``groundtruth_rect.1.txt``/``.2.txt``), and the annotation of some starts after frame 1 or ends
before the last image (David: frames 300-770; Diving: 1-215 of 231 images). Those ranges come
from the toolkit's ``seq_frames_tb100.tsv`` when it is found, or from ``start_frame``.
"""

from __future__ import annotations

import os
from pathlib import Path

from rlattn.datasets.otb_catalog import FIRST_FRAME, OTB100, archives
from rlattn.datasets.sequence import Sequence, list_frames, read_boxes
from rlattn.errors import RlattnError

OTB_FOLDERS = frozenset(archives(OTB100))
FRAME_TABLE = "seq_frames_tb100.tsv"


DATA_ENV = "RLATTN_DATA"  # RLATTN_DATA_ROOT, its older name, is read too
NO_DATA = (
    "no benchmark data found: fetch it with 'rlattn data get otb2015' (or otb2013, tb50, vot2016, or "
    "sequence names), point RLATTN_DATA at your own copy (<root>/otb/<Seq>/img/), or pass --data-root"
)


def user_data_root() -> Path:
    """Where ``rlattn data get`` puts benchmarks by default: ``$XDG_CACHE_HOME/rlattn`` (``~/.cache/rlattn``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rlattn"


def env_data_root() -> Path | None:
    """``$RLATTN_DATA`` (or its older name ``$RLATTN_DATA_ROOT``) when set."""
    env = os.environ.get(DATA_ENV) or os.environ.get("RLATTN_DATA_ROOT")
    return Path(env) if env else None


def annotation_folder(root: Path) -> Path:
    """Where OTB ground truth is read under a data root: the toolkit's ``otb_meta/anno_tb100`` where
    there is one, else the sequences' own ``groundtruth_rect`` files under ``otb/``."""
    toolkit = Path(root) / "otb_meta" / "anno_tb100"
    return toolkit if toolkit.is_dir() else Path(root) / "otb"


def shared_candidates() -> list[Path]:
    """Where a ``shared/data`` folder beside the project is looked for."""
    repo = Path(__file__).resolve().parents[2]
    return [base / "shared" / "data" for base in (Path.cwd().parent, Path.cwd(), repo.parent)]


def default_data_root() -> Path | None:
    """The benchmark data, by one rule everywhere (after a command's own ``--data-root``):
    ``$RLATTN_DATA``; else ``shared/data`` beside the working directory or beside the repository of
    an editable install (notebooks run from ``notebooks/``); else the folder ``rlattn data get``
    fills (:func:`user_data_root`) once it holds something. None when there is none of them."""
    env = env_data_root()
    if env is not None:
        return env
    for cand in shared_candidates():
        if cand.is_dir():
            return cand
    user = user_data_root()
    if any((user / sub).is_dir() for sub in ("otb", "vot")):
        return user
    return None


def read_frame_table(path: Path) -> dict[str, tuple[int, int]]:
    """``{name: (start, end)}`` from a ``seq_frames_tb100.tsv``-style table (lower-case names)."""
    table = {}
    lines = Path(path).read_text().splitlines()
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].strip().isdigit():
            table[parts[0].strip().lower()] = (int(parts[1]), int(parts[2]))
    return table


def find_frame_table(seq_dir: Path) -> Path | None:
    """The frame table beside an OTB copy: ``<root>/otb_meta/`` for ``<root>/otb/<Seq>``."""
    candidates = [seq_dir.parent.parent / "otb_meta" / FRAME_TABLE, seq_dir.parent / FRAME_TABLE]
    root = default_data_root()
    if root is not None:
        candidates.append(root / "otb_meta" / FRAME_TABLE)
    return next((c for c in candidates if c.is_file()), None)


def ground_truth_files(seq_dir: Path) -> dict[int | None, Path]:
    files = {}
    if (seq_dir / "groundtruth_rect.txt").is_file():
        files[None] = seq_dir / "groundtruth_rect.txt"
    for p in seq_dir.glob("groundtruth_rect.*.txt"):
        key = p.name.split(".")[1]
        if key.isdigit():
            files[int(key)] = p
    return files


def load_otb_sequence(
    seq_dir: str | Path,
    target: int | None = None,
    start_frame: int | None = None,
    frame_table: Path | None = None,
) -> Sequence:
    """One OTB sequence; ``target`` picks ``groundtruth_rect.<target>.txt`` for two-target ones."""
    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise RlattnError(f"sequence folder not found: {seq_dir}")
    frames = list_frames(seq_dir / "img")
    files = ground_truth_files(seq_dir)
    if not files:
        raise RlattnError(f"no groundtruth_rect.txt in {seq_dir} (pass --init x,y,w,h to track without one)")
    if target is None:
        numbered = sorted(k for k in files if k is not None)
        if None not in files:
            raise RlattnError(
                f"{seq_dir.name} has {len(numbered)} targets; choose one with --target "
                + " or ".join(str(k) for k in numbered)
            )
        gt_path, key = files[None], seq_dir.name.lower()
    else:
        if target not in files:
            raise RlattnError(f"{seq_dir.name} has no groundtruth_rect.{target}.txt")
        gt_path, key = files[target], f"{seq_dir.name.lower()}-{target}"
    boxes, _ = read_boxes(gt_path)
    first = start_frame
    if first is None and len(boxes) != len(frames):
        table_path = frame_table or find_frame_table(seq_dir)
        table = read_frame_table(table_path) if table_path else {}
        if key in table:
            first = table[key][0]
        elif seq_dir.name in OTB_FOLDERS:  # a benchmark folder without the toolkit's table beside it
            first = FIRST_FRAME.get(seq_dir.name, 1)
        else:
            raise RlattnError(
                f"{seq_dir.name}: {len(frames)} frames but {len(boxes)} ground-truth boxes in {gt_path.name}; "
                f"pass --start-frame N if the annotation starts at frame N (OTB's David starts at 300)"
            )
    first = 1 if first is None else first
    if first < 1 or first - 1 + len(boxes) > len(frames):
        raise RlattnError(
            f"{seq_dir.name}: {len(boxes)} boxes from frame {first} need {first - 1 + len(boxes)} frames, "
            f"the folder has {len(frames)}"
        )
    frames = frames[first - 1 : first - 1 + len(boxes)]
    name = seq_dir.name if target is None else f"{seq_dir.name}.{target}"
    return Sequence(name=name, frames=frames, boxes=boxes, first_frame=first, path=seq_dir)
