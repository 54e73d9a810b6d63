"""Chapters find the checkout from notebooks/ or from the repository root alike."""

from __future__ import annotations

from pathlib import Path

import rlattn.project as project
from rlattn.project import enter_project_root, project_root

REPO = Path(__file__).resolve().parents[1]


def test_the_checkout_is_found_from_inside_and_from_the_root():
    assert project_root(REPO / "notebooks") == REPO
    assert project_root(REPO) == REPO


def test_outside_any_checkout_the_editable_install_is_used(tmp_path, monkeypatch):
    assert project_root(tmp_path) == REPO  # this test runs from an editable install or the checkout
    monkeypatch.setattr(project, "__file__", str(tmp_path / "site-packages" / "rlattn" / "project.py"))
    assert project_root(tmp_path) is None


def test_entering_the_root_changes_the_working_directory(monkeypatch):
    monkeypatch.chdir(REPO / "notebooks")
    assert enter_project_root() == REPO
    assert Path.cwd() == REPO
