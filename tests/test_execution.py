"""The execution-statistics page: what each committed chapter run recorded."""

from __future__ import annotations

import json

from rlattn.execution import execution_page, execution_rows, stamp


def _notebook(path, title, duration=None):
    meta = {"papermill": {"duration": duration, "end_time": "2026-12-02T08:00:00.5+00:00"}} if duration else {}
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [f"# {title}\n", "text"]}],
          "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def test_rows_and_page(tmp_path):
    _notebook(tmp_path / "01_a.ipynb", "1. First", duration=75.4)
    _notebook(tmp_path / "02_b.ipynb", "2. Second")
    (tmp_path / "scratch.ipynb").write_text("{}")  # not a chapter
    info = stamp(tmp_path / "01_a.ipynb")
    rows = execution_rows(tmp_path)
    assert [r["title"] for r in rows] == ["1. First", "2. Second"]
    assert rows[0]["machine"] == info["machine"] and rows[0]["executed"] == "2026-12-02 08:00"
    page = execution_page(rows)
    assert "1 min 15 s" in page and "{doc}`/notebooks/01_a`" in page
    assert "not recorded" in page.splitlines()[3]  # the second chapter has no stamp and no papermill run
