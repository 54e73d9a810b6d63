"""Where the project's checkout lies, so that a chapter's paths mean the same whether it runs from
``notebooks/`` (nbval, ``make notebooks``, Jupyter) or from the repository root (the papermill
commands the README and the book print)."""

from __future__ import annotations

import os
from pathlib import Path

# A folder is the checkout when it holds the book's table of contents beside the package.
MARKERS = ("_toc.yml", "rlattn/__init__.py")


def is_project_root(folder: Path) -> bool:
    return all((folder / m).is_file() for m in MARKERS)


def project_root(start: Path | None = None) -> Path | None:
    """The checkout that holds ``start`` (default: the working directory), else the checkout of an
    editable install of the package; None for a plain installed package outside any checkout."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_project_root(folder):
            return folder
    package_checkout = Path(__file__).resolve().parents[1]
    return package_checkout if is_project_root(package_checkout) else None


def enter_project_root() -> Path:
    """Make the checkout the working directory (chapters call this first) and return it; without a
    checkout, stay where we are: the chapters' relative paths then mean folders beside the notebook."""
    root = project_root()
    if root is not None:
        os.chdir(root)
    return Path.cwd()
