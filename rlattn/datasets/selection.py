"""Which data a chapter runs on: the benchmark where there is one, else a few synthetic sequences,
said in one line, so that every chapter runs on a machine without any download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlattn.datasets.otb import annotation_folder, default_data_root
from rlattn.datasets.synthetic import SYNTHETIC_SET, make_synthetic_dataset


@dataclass(frozen=True)
class DataChoice:
    """A data root, the dataset name and sequence names to resolve there, and why."""

    root: Path
    dataset: str
    names: list[str] | None
    synthetic: bool
    note: str = ""

    @property
    def annotations(self) -> Path:
        """The toolkit's annotation folder where there is one, else the sequences' own ground truth."""
        return annotation_folder(self.root)


def choose_data(
    names: list[str] | None,
    dataset: str = "otb2015",
    *,
    root: Path | None = None,
    synthetic_root: Path = Path("../data/synthetic"),
    synthetic_count: int = 2,
) -> DataChoice:
    """``names`` of ``dataset`` under ``root`` (default: :func:`default_data_root`) when it holds OTB
    folders; otherwise the first ``synthetic_count`` sequences of the synthetic set, written under
    ``synthetic_root`` if needed, with a ``note`` that says so."""
    root = root or default_data_root()
    if root is not None and (Path(root) / "otb").is_dir():
        return DataChoice(Path(root), dataset, names, False)
    make_synthetic_dataset(synthetic_root)
    picked = list(SYNTHETIC_SET[:synthetic_count])
    note = (
        f"No benchmark data on this machine (no $RLATTN_DATA, ../shared/data or 'rlattn data get' folder): "
        f"this chapter runs on {len(picked)} synthetic sequences instead, so its numbers say nothing about OTB."
    )
    return DataChoice(Path(synthetic_root), "synthetic", picked, True, note)
