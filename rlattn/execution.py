"""Execution statistics of the book's chapters: each executed notebook records where and from which
code it ran (``stamp``), and the book's page lists, per chapter, the machine, commit, date and wall
time of its committed run (``page``).

    python -m rlattn.execution stamp notebooks/05_lambda.ipynb   # after papermill (make notebooks)
    python -m rlattn.execution page notebooks book/generated/execution.md   # before the build (make book)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlattn.machine import cpu_description, source_commit

KEY = "rlattn"  # the notebook metadata entry this module owns


def stamp(notebook: Path) -> dict:
    """Record this machine and the source commit in an executed notebook's metadata."""
    import torch

    nb = json.loads(Path(notebook).read_text())
    info = {
        "machine": cpu_description(),
        "commit": source_commit(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    nb["metadata"][KEY] = info
    tmp = Path(notebook).with_name(f".{Path(notebook).name}.tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(notebook)
    return info


def chapter_title(nb: dict) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "?"


def execution_rows(folder: Path) -> list[dict]:
    """One row per chapter notebook (``[0-9]*.ipynb``): title, date, wall time, machine, commit."""
    rows = []
    for path in sorted(Path(folder).glob("[0-9]*.ipynb")):
        nb = json.loads(path.read_text())
        pm, mine = nb["metadata"].get("papermill", {}), nb["metadata"].get(KEY, {})
        rows.append({
            "notebook": path.name,
            "title": chapter_title(nb),
            "executed": (pm.get("end_time") or "")[:16].replace("T", " ") or None,
            "seconds": pm.get("duration"),
            "machine": mine.get("machine"),
            "commit": mine.get("commit"),
        })
    return rows


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s:02d} s" if minutes else f"{s} s"


def execution_page(rows: list[dict]) -> str:
    """A Markdown table (the book's page includes it)."""
    lines = ["| chapter | executed (UTC) | wall time | machine | commit |", "|---|---|---|---|---|"]
    for r in rows:
        link = f"{{doc}}`/notebooks/{Path(r['notebook']).stem}`"
        lines.append(f"| {link} | {r['executed'] or '–'} | {_duration(r['seconds'])} | "
                     f"{r['machine'] or 'not recorded'} | {r['commit'] or 'not recorded'} |")
    total = sum(r["seconds"] or 0 for r in rows)
    lines.append(f"\nAll chapters together: {_duration(total)} of wall time as committed.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "stamp":
        for nb in args[1:]:
            stamp(Path(nb))
        return 0
    if len(args) == 3 and args[0] == "page":
        out = Path(args[2])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(execution_page(execution_rows(Path(args[1]))))
        return 0
    print("usage: python -m rlattn.execution stamp NOTEBOOK... | page FOLDER OUT.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
