"""The rerun commands the README and the book print work as written: papermill from the repository
root finds the committed results (the chapters' paths are the checkout's, wherever they run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlattn.datasets import default_data_root

REPO = Path(__file__).resolve().parents[1]


def _outputs(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"])


def _tracked_state() -> str:
    """What a rerun must not change: the status of the checkout and the generated pages' bytes."""
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                            capture_output=True, text=True).stdout
    pages = "".join(p.read_text() for p in sorted((REPO / "book" / "generated").glob("*.md")))
    return status + pages


def test_papermill_from_the_repository_root_changes_nothing(tmp_path):
    """Chapter 10 rerun with another bootstrap, as a reader would: it finds the committed results from
    the root and leaves the repository as it was (the book's pages are `rlattn ledger --write`'s)."""
    before = _tracked_state()
    cmd = [sys.executable, "-m", "papermill", "notebooks/10_verdict.ipynb", str(tmp_path / "10.ipynb"),
           "-p", "n_boot", "2000", "-p", "boot_seed", "7", "--no-progress-bar"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Passed unknown parameter" not in res.stderr
    assert _tracked_state() == before
    text = _outputs(tmp_path / "10.ipynb")
    root = default_data_root()
    if root is None or not (root / "otb_meta").is_dir():
        assert "No OTB annotations found" in text
        return
    assert "mean Δ AUC (DAT (λ = 5), fast − MDNet (λ = 0), fast)" in text  # the committed study, found


@pytest.mark.parametrize("chapter", sorted(p.name for p in (REPO / "notebooks").glob("[0-9]*.ipynb")))
def test_papermill_sees_every_parameter(chapter):
    """A parameter papermill cannot parse (a ';' or '=' in its comment) is silently not settable."""
    nb = json.loads((REPO / "notebooks" / chapter).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    assigned = {line.split("=")[0].strip() for line in "".join(cell["source"]).splitlines()
                if line and not line[0].isspace() and "=" in line}
    from papermill.inspection import inspect_notebook  # a dev dependency, like nbval

    assert assigned == set(inspect_notebook(str(REPO / "notebooks" / chapter)))
